// Live refresh: open pages follow changes made elsewhere (another tab, device or person) through
// the session's event stream (/web/live). On an event the page asks its own URL for the fresh list
// as a fragment and swaps the cards in, but never one being edited or holding the focus, and never
// the editor, so nothing typed is lost. Without this script the page is simply as of its load.
import { enhance } from "./app.js";

const DEBOUNCE_MS = 400;
const source = document.querySelector('meta[name="memos-live"]')?.content;
const memoList = document.querySelector("[data-memo-list]");
const commentList = document.querySelector("[data-comment-list]");

function fragment(html) {
  const t = document.createElement("template");
  t.innerHTML = html.trim();
  return t.content;
}

// A card someone is working in: it holds the focus, is (or holds) an editor, or has a menu open.
const WORKING = "form[data-editor], textarea:not([data-raw]), details[open], dialog[open]";
function busy(el) {
  const active = document.activeElement;
  if (active && active !== document.body && el.contains(active)) return true;
  return el.matches(WORKING) || Boolean(el.querySelector(WORKING));
}

// What an item stands for: its id, or for a card being edited in place (the editor took its
// place) the id of that card.
function key(el) {
  return el.id || (el.dataset.editUid ? "memo-" + el.dataset.editUid : "");
}

// Put the fresh children of `incoming` into `container`, keeping busy ones where they are.
// `partial`: more pages were loaded below, so only the first page's stretch is reconciled.
function reconcile(container, incoming, partial) {
  const current = [...container.children];
  const fresh = [...incoming.children];
  const byKey = new Map(current.filter(key).map((el) => [key(el), el]));
  const freshKeys = new Set(fresh.map(key).filter(Boolean));
  const kept = new Set(current.filter(busy));
  let wanted = fresh.map((el) => (key(el) && kept.has(byKey.get(key(el))) ? byKey.get(key(el)) : el));
  if (partial) {
    wanted = wanted.filter(key); // the fresh "load more" link would load page 2 twice
    let last = -1;
    current.forEach((el, i) => { if (freshKeys.has(key(el))) last = i; });
    current.slice(last + 1).forEach((el) => { kept.add(el); wanted.push(el); });
  }
  current.forEach((el, i) => {
    if (kept.has(el) && !wanted.includes(el)) wanted.splice(Math.min(i, wanted.length), 0, el);
  });
  for (const el of current) if (!kept.has(el)) el.remove();
  let before = container.firstElementChild;
  const added = [];
  for (const el of wanted) {
    if (kept.has(el)) {
      before = el.nextElementSibling;
      continue;
    }
    container.insertBefore(el, before);
    added.push(el);
  }
  added.forEach(enhance);
}

async function fetchFragment(url) {
  const res = await fetch(url, { headers: { "X-Requested-With": "memos-web" }, credentials: "same-origin" });
  if (!res.ok || !(res.headers.get("Content-Type") || "").includes("text/html")) return null;
  return fragment(await res.text());
}

async function refreshList() {
  const frag = await fetchFragment(location.pathname + location.search);
  if (!frag) return;
  // Pages loaded with "load more" stay: the first page's link then differs from the list's last one.
  const ownMore = memoList.querySelector(":scope > [data-load-more]")?.getAttribute("href") || "";
  const freshMore = frag.querySelector(":scope > [data-load-more]")?.getAttribute("href") || "";
  reconcile(memoList, frag, ownMore !== freshMore);
}

async function refreshComments() {
  const frag = await fetchFragment(location.pathname + location.search);
  if (!frag) return;
  reconcile(commentList, frag, false);
  const count = document.querySelector("[data-comment-count]");
  if (count) count.textContent = String(commentList.querySelectorAll(":scope > [id]").length);
}

// Which part of this page an event concerns.
function concerns(event) {
  if (memoList) return refreshList;
  if (!commentList) return null;
  const memo = commentList.dataset.liveMemo;
  const uid = (event.name || "").replace(/^memos\//, "");
  if (event.name === memo || event.parent === memo || document.getElementById("comment-" + uid)) return refreshComments;
  return null;
}

let timer = 0;
let running = null;
let queued = null;

function schedule(refresh) {
  queued = refresh;
  clearTimeout(timer);
  timer = setTimeout(run, DEBOUNCE_MS);
}

async function run() {
  if (document.hidden) return; // caught up on visibilitychange
  if (running) return; // run again when the one in flight ends
  const refresh = queued;
  queued = null;
  if (!refresh) return;
  running = refresh().catch(() => {}).finally(() => {
    running = null;
    if (queued) schedule(queued);
  });
}

document.addEventListener("visibilitychange", () => { if (!document.hidden && queued) schedule(queued); });

if (source && (memoList || commentList) && "EventSource" in window) {
  const events = new EventSource(source);
  let dropped = false;
  events.addEventListener("message", (e) => {
    let data;
    try {
      data = JSON.parse(e.data);
    } catch {
      return;
    }
    const refresh = concerns(data);
    if (refresh) schedule(refresh);
  });
  const root = document.documentElement;
  events.addEventListener("error", () => {
    dropped = true;
    root.dataset.live = events.readyState === EventSource.CLOSED ? "closed" : "connecting";
  });
  events.addEventListener("open", () => {
    root.dataset.live = "open"; // the page is following changes (tests wait for this)
    if (!dropped) return;
    dropped = false; // events may have been missed while reconnecting
    const refresh = memoList ? refreshList : refreshComments;
    schedule(refresh);
  });
  window.addEventListener("pagehide", () => events.close());
}
