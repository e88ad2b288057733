import "./editor.js";
import "./live.js";
import "./theme.js";
import "./sidebar.js";
import "./inbox.js";
import "./settings.js";
import { t } from "./i18n.js";
import "./settings_account.js";
import "./dblclick.js";
// memos-web: progressive enhancement. Every action below also works as a plain form or link
// without this script; here it happens in place, without a page load.
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

export async function post(url, data) {
  const body = data instanceof FormData ? data : new URLSearchParams(data);
  const res = await fetch(url, {
    method: "POST",
    body,
    headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "memos-web" },
    credentials: "same-origin",
  });
  return res;
}

export function toast(message) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.classList.add("show");
  clearTimeout(el._t);
  el._t = setTimeout(() => el.classList.remove("show"), 2200);
}

async function errorText(res) {
  try {
    const data = await res.json();
    return data.message || res.statusText;
  } catch {
    return res.statusText;
  }
}

function fragment(html) {
  const tpl = document.createElement("template");
  tpl.innerHTML = html.trim();
  return tpl.content;
}

// The viewer's time zone, so the server draws times and calendar days where they live.
try {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (tz && !document.cookie.includes("memos_tz=" + encodeURIComponent(tz))) {
    document.cookie = `memos_tz=${encodeURIComponent(tz)}; path=/; max-age=31536000; samesite=lax`;
  }
} catch { /* keep UTC */ }

// Drawers on phones.
document.addEventListener("click", (e) => {
  const toggle = e.target.closest("[data-drawer]");
  if (toggle) {
    e.preventDefault(); // without this script the link opens the drawer through CSS :target
    const panel = document.getElementById(toggle.dataset.drawer);
    const open = !panel.classList.contains("open");
    document.querySelectorAll(".rail.open, .sidebar.open").forEach((p) => p.classList.remove("open"));
    panel.classList.toggle("open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) panel.querySelector("a, button, input")?.focus();
    return;
  }
  const openPanel = document.querySelector(".rail.open, .sidebar.open");
  if (openPanel && !openPanel.contains(e.target)) openPanel.classList.remove("open");
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  document.querySelectorAll(".rail.open, .sidebar.open").forEach((p) => p.classList.remove("open"));
  document.querySelectorAll("details[open]").forEach((d) => d.removeAttribute("open"));
});

// Copy link / content.
document.addEventListener("click", async (e) => {
  const link = e.target.closest("[data-copy-link]");
  const content = e.target.closest("[data-copy-content]");
  if (!link && !content) return;
  let text;
  if (link) text = new URL(link.dataset.copyLink, location.origin).href;
  else text = content.closest("[data-memo]").querySelector("[data-raw]").value;
  try {
    await navigator.clipboard.writeText(text);
    toast(link ? t("Link copied") : t("Content copied"));
  } catch {
    window.prompt(t("Copy:"), text);
  }
  e.target.closest("details")?.removeAttribute("open");
});

// Card actions (pin, archive, delete, react): post in place and swap the card.
document.addEventListener("submit", async (e) => {
  const form = e.target.closest("form[data-card-action]");
  if (!form) return;
  e.preventDefault();
  const card = form.closest("[data-memo]");
  const res = await post(form.action, new FormData(form));
  if (!res.ok) return toast(await errorText(res));
  const type = res.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    const data = await res.json();
    if (data.gone) {
      card.remove();
      toast(t("Done"));
    }
    return;
  }
  const next = fragment(await res.text()).firstElementChild;
  card.replaceWith(next);
  enhance(next);
});

// Load more.
document.addEventListener("click", async (e) => {
  const more = e.target.closest("[data-load-more]");
  if (!more) return;
  e.preventDefault();
  more.setAttribute("aria-busy", "true");
  const res = await fetch(more.href, { headers: { "X-Requested-With": "memos-web" } });
  if (!res.ok) return toast(await errorText(res));
  const frag = fragment(await res.text());
  const list = more.parentElement;
  more.remove();
  const added = [...frag.children];
  list.append(frag);
  added.forEach(enhance);
});

// Task checkboxes: the owner toggles, saved at once.
document.addEventListener("change", async (e) => {
  const box = e.target.closest("input.task-list-item-checkbox");
  if (!box) return;
  const body = box.closest("[data-tasks]");
  if (!body) return;
  const index = [...body.querySelectorAll("input.task-list-item-checkbox")].indexOf(box);
  const res = await post(body.dataset.tasks + index, {});
  if (!res.ok) {
    box.checked = !box.checked;
    return toast(await errorText(res));
  }
  const card = body.closest("[data-memo]");
  const next = fragment(await res.text()).firstElementChild;
  card.replaceWith(next);
  enhance(next);
});

// Lightbox for images.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-lightbox]");
  if (!a) return;
  e.preventDefault();
  const images = [...a.closest(".attachments").querySelectorAll("a[data-lightbox]")];
  let i = images.indexOf(a);
  const box = document.createElement("div");
  box.className = "lightbox";
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-modal", "true");
  box.setAttribute("aria-label", t("Image viewer"));
  const img = document.createElement("img");
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = t("Close");
  const show = () => {
    img.src = images[i].href;
    img.alt = images[i].querySelector("img")?.alt || "";
  };
  const done = () => {
    box.remove();
    document.removeEventListener("keydown", keys);
    a.focus();
  };
  const keys = (ev) => {
    if (ev.key === "Escape") done();
    if (ev.key === "ArrowRight") { i = (i + 1) % images.length; show(); }
    if (ev.key === "ArrowLeft") { i = (i - 1 + images.length) % images.length; show(); }
  };
  close.addEventListener("click", done);
  box.addEventListener("click", (ev) => { if (ev.target === box) done(); });
  box.append(img, close);
  show();
  document.body.append(box);
  document.addEventListener("keydown", keys);
  close.focus();
});

// Per-card touches: clickable task boxes for the owner, links in new tabs, collapse long memos.
export function enhance(root) {
  root.querySelectorAll("[data-tasks] input.task-list-item-checkbox").forEach((box) => {
    box.disabled = false;
    box.setAttribute("aria-label", t("Toggle task: %(task)s", { task: box.parentElement.textContent.trim() }));
  });
  root.querySelectorAll(".markdown pre").forEach((pre) => {
    if (pre.querySelector(".copy-code")) return;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy-code";
    copy.textContent = t("Copy");
    copy.setAttribute("aria-label", t("Copy code"));
    copy.addEventListener("click", async () => {
      await navigator.clipboard.writeText(pre.querySelector("code")?.innerText ?? pre.innerText);
      toast(t("Code copied"));
    });
    pre.append(copy);
  });
  root.querySelectorAll(".markdown a[href^='http']").forEach((a) => {
    a.target = "_blank";
  });
  root.querySelectorAll(".collapsible").forEach((body) => {
    if (body.dataset.sized || body.scrollHeight < 420) return;
    body.dataset.sized = "1";
    body.classList.add("collapsed");
    const more = document.createElement("button");
    more.type = "button";
    more.className = "show-more link-button";
    more.textContent = t("Show more");
    more.setAttribute("aria-expanded", "false");
    more.addEventListener("click", () => {
      const collapsed = body.classList.toggle("collapsed");
      more.textContent = collapsed ? t("Show more") : t("Show less");
      more.setAttribute("aria-expanded", String(!collapsed));
    });
    body.after(more);
  });
}

enhance(document);
