// Account settings: the copy button beside a new access token. The token is drawn only on the
// page that created it, so copying it matters; without this script the field is there to select.
import { toast } from "./app.js";
import { t } from "./i18n.js";

for (const button of document.querySelectorAll("[data-copy-from]")) {
  const field = document.getElementById(button.dataset.copyFrom);
  if (!field) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      toast(t("Token copied"));
    } catch {
      field.focus();
      field.select(); // the clipboard is not available here: selected, for Ctrl+C
      toast(t("Press Ctrl+C to copy the selected token"));
    }
  });
}
