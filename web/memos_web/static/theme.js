// Theme switcher: without this script the rail's form posts and the page comes back in the new
// theme (the server writes data-theme before the first paint). Here a choice applies at once and
// is saved in the background.
import { post, toast } from "./app.js";
import { t } from "./i18n.js";

const COLORS = { light: "#f4f4f5", dark: "#111113" };

function apply(theme) {
  const root = document.documentElement;
  root.dataset.theme = theme;
  document.querySelectorAll('meta[name="theme-color"]').forEach((m) => m.remove());
  const modes = theme === "system" ? ["light", "dark"] : [theme];
  for (const mode of modes) {
    const meta = document.createElement("meta");
    meta.name = "theme-color";
    meta.content = COLORS[mode];
    if (theme === "system") meta.media = `(prefers-color-scheme: ${mode})`;
    document.head.append(meta);
  }
}

for (const form of document.querySelectorAll("form[data-theme-form]")) {
  const select = form.elements.theme;
  const button = form.querySelector("button[type=submit]");
  if (button) button.hidden = true; // the choice applies on change
  select.addEventListener("change", async () => {
    const before = document.documentElement.dataset.theme;
    apply(select.value);
    try {
      const res = await post(form.action, new FormData(form));
      if (!res.ok) throw new Error(String(res.status));
    } catch {
      apply(before);
      select.value = before;
      toast(t("The theme could not be saved."));
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    select.dispatchEvent(new Event("change"));
  });
}
