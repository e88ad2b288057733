// The page scripts' text in the page's language. Messages are written in English, as in the
// templates (`t("Saved")`, `t("Could not upload %(name)s", { name })`); the server's catalog for a
// language other than English is loaded before the modules by a script of its own
// (/web/i18n/<lang>.js, linked in the page's head) and read here at call time.
export function t(message, vars) {
  const messages = globalThis.memosI18n?.messages || {};
  const text = messages[message] || message;
  return text.replace(/%(?:\((\w+)\)[sd]|%)/g, (match, name) => {
    if (!name) return "%";
    return vars && name in vars ? String(vars[name]) : match;
  });
}

// The page's language (BCP 47), for the browser's own formatting (Intl).
export const lang = () => document.documentElement.lang || "en";
