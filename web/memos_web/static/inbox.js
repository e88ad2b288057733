// Inbox and attachments library: actions in place.
// - Inbox: "Mark as read"/"unread" swaps the item, delete removes it, the rail badge follows;
//   opening an unread notification marks it read on the way.
// - Attachments: "Load more" merges the next page's months and documents into the page.
import { post, toast } from "./app.js";
import { t } from "./i18n.js";

function fragment(html) {
  const tpl = document.createElement("template");
  tpl.innerHTML = html.trim();
  return tpl.content;
}

function setUnread(count) {
  if (count === null || count === undefined || Number.isNaN(count)) return;
  const link = document.querySelector('.rail a[href="/inbox"]');
  let badge = link?.querySelector(".badge");
  if (link && count > 0) {
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "badge";
      link.append(" ", badge);
    }
    badge.textContent = String(count);
    badge.setAttribute("aria-label", t("%(count)s unread", { count }));
  } else if (badge) {
    badge.remove();
  }
  const tab = document.querySelector("[data-inbox-unread]");
  if (tab) tab.textContent = String(count);
}

document.addEventListener("submit", async (e) => {
  const form = e.target.closest("form[data-inbox-action]");
  if (!form) return;
  e.preventDefault();
  const item = form.closest("[data-notification]");
  const res = await post(form.action, new FormData(form));
  if (!res.ok) {
    let message = res.statusText;
    try { message = (await res.json()).message || message; } catch { /* not JSON */ }
    return toast(message);
  }
  const type = res.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    const data = await res.json();
    setUnread(data.unread);
    item.remove();
    toast(t("Deleted"));
    return;
  }
  setUnread(Number(res.headers.get("X-Unread-Count")));
  const next = fragment(await res.text()).firstElementChild;
  const list = item.closest("[data-inbox]");
  if (list?.dataset.inbox === "unread" && !next.classList.contains("unread")) {
    item.remove();
    toast(t("Marked as read"));
  } else {
    item.replaceWith(next);
    next.querySelector("form[data-inbox-action] button")?.focus();
  }
});

document.addEventListener("click", (e) => {
  const link = e.target.closest("a[data-open-notification]");
  const item = link?.closest("[data-notification].unread");
  if (!item) return;
  const form = item.querySelector('form[data-inbox-action] input[name="status"][value="ARCHIVED"]')?.form;
  if (!form) return;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    headers: { "X-CSRF-Token": csrf, "X-Requested-With": "memos-web" },
    credentials: "same-origin",
    keepalive: true,
  });
});

document.addEventListener("click", async (e) => {
  const more = e.target.closest("a[data-more-attachments]");
  if (!more) return;
  e.preventDefault();
  more.setAttribute("aria-busy", "true");
  const res = await fetch(more.href, { headers: { "X-Requested-With": "memos-web" } });
  if (!res.ok) {
    more.removeAttribute("aria-busy");
    return toast(res.statusText);
  }
  const page = fragment(await res.text());
  const library = more.closest("[data-attachment-library]");
  const media = library.querySelector("[data-media]");
  const documents = library.querySelector("[data-documents]");
  page.querySelectorAll("[data-month]").forEach((month) => {
    const existing = media.querySelector(`[data-month="${month.dataset.month}"] .media-grid`);
    if (existing) existing.append(...month.querySelector(".media-grid").children);
    else media.append(month);
  });
  media.querySelector("[data-empty]")?.remove();
  const docs = page.querySelector("[data-documents]");
  if (docs?.children.length) {
    documents.querySelector("[data-empty]")?.remove();
    documents.append(...docs.children);
  }
  const row = more.closest(".load-more-row");
  const nextMore = page.querySelector(".load-more-row");
  if (nextMore) row.replaceWith(nextMore);
  else row.remove();
});
