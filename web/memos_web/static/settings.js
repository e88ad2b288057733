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
document.querySelectorAll("[data-busy-form]").forEach((form) => {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit][data-busy-label]");
    if (!button) return;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = button.dataset.busyLabel;
  });
});
