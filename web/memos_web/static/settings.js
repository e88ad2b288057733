import { toast } from "./app.js";
import { t } from "./i18n.js";

// Settings: the phone menu's select jumps to its section; the wide menu marks the shown one.
const select = document.querySelector("[data-settings-select] select");

function mark() {
  const sections = [...document.querySelectorAll(".settings-section")];
  if (!sections.length) return;
  const current = sections.find((s) => "#" + s.id === location.hash) || sections[0];
  document.querySelectorAll("[data-section-link]").forEach((a) => {
    a.setAttribute("aria-current", String(a.dataset.sectionLink === current.id));
  });
  if (select) select.value = current.id;
}

if (select) {
  select.addEventListener("change", () => {
    location.hash = select.value;
    document.getElementById(select.value)?.focus();
  });
  select.closest("form").querySelector("button[type=submit]").hidden = true;
}
window.addEventListener("hashchange", () => {
  mark();
  document.getElementById(location.hash.slice(1))?.focus();
});
mark();

// Forms that can take a while (an import) say so while the server works, and cannot be sent twice.
// Listened to on the document: a section drawn again from an answer (below) keeps working.
function busy(button, label) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
}

document.addEventListener("submit", (event) => {
  if (event.defaultPrevented) return; // another script (the editor) handles this form itself
  const form = event.target.closest("[data-busy-form]");
  const button = form?.querySelector("button[type=submit][data-busy-label]");
  if (!button) return;
  const progress = form.hasAttribute("data-upload-progress") && form.querySelector("progress");
  if (!progress) {
    busy(button, button.dataset.busyLabel);
    return;
  }
  // A file upload: sent by script so a bar can show how much has gone, then the server imports.
  event.preventDefault();
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.action);
  const original = button.textContent;
  busy(button, t("Uploading…"));
  progress.value = 0;
  progress.hidden = false;
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total;
  };
  xhr.upload.onload = () => {
    progress.value = progress.max;
    button.textContent = button.dataset.busyLabel;
  };
  xhr.onload = () => arrived(form, xhr);
  xhr.onerror = () => {
    progress.hidden = true;
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = original;
    toast(t("The upload did not reach the server: check the connection and try again."));
  };
  xhr.send(new FormData(form));
});

// Where the browser would have gone without the script: the page the server redirected to, or its
// refusal (the section drawn again with the message beside the form).
function arrived(form, xhr) {
  if (xhr.status < 400) {
    const to = new URL(xhr.responseURL);
    to.hash = new URL(form.action).hash;
    if (to.href === location.href) location.reload();
    else location.assign(to.href);
    return;
  }
  const answer = new DOMParser().parseFromString(xhr.responseText, "text/html");
  const here = form.closest("section[id]");
  const drawn = here && answer.getElementById(here.id);
  if (drawn?.matches("section")) {
    here.replaceChildren(...drawn.childNodes); // its content only: the section stays the URL's :target
    here.querySelector("[aria-invalid=true]")?.focus();
    return;
  }
  document.open(); // another error page (the form expired, the file is too large): shown as it came
  document.write(xhr.responseText);
  document.close();
}
