// Sidebar shortcuts: the create/edit/delete forms post in place, so a refused filter shows its
// message beside what was typed; on success the page goes where the server says (a plain form
// post does the same with a redirect).
import { post, toast } from "./app.js";
import { t } from "./i18n.js";

document.addEventListener("submit", async (e) => {
  const form = e.target.closest("form[data-shortcut-form]");
  if (!form) return;
  e.preventDefault();
  const error = form.querySelector("[data-form-error]");
  const button = form.querySelector("[type=submit]");
  if (button) button.disabled = true;
  let data = {};
  let res;
  try {
    res = await post(form.action, new FormData(form));
    data = await res.json();
  } catch {
    data = {};
  } finally {
    if (button) button.disabled = false;
  }
  if (!res || !res.ok) {
    const message = data.message || (res ? res.statusText : t("Network error"));
    if (error) {
      error.textContent = message;
      error.hidden = false;
    } else {
      toast(message);
    }
    return;
  }
  location.assign(data.redirect || location.href);
});
