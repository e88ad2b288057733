// memos-web: the memo editor. The form works on its own (multipart post, then a redirect);
// this module adds what needs a script: list continuation, `#` tags and `/` snippets,
// uploads with progress, linking memos, geolocation, focus mode, a live preview, local drafts,
// saving in place and editing a card in place.
import { post, toast, enhance } from "./app.js";
import { t } from "./i18n.js";

const EDITOR = "form[data-editor]";
const DRAFTS = "memos-draft:";
const LIST_ITEM = /^(\s*)([-*+]|\d+[.)])(\s+)(\[[ xX]\]\s+)?/;
const SNIPPETS = [
  { label: t("Task"), keywords: "todo task checkbox", text: "- [ ] ", select: [6, 6] },
  { label: t("Code block"), keywords: "code fence", text: "```\n\n```", select: [4, 4] },
  { label: t("Link"), keywords: "link url", text: "[text](url)", select: [1, 5] },
  { label: t("Table"), keywords: "table", text: "| Column | Column |\n| --- | --- |\n| Cell | Cell |", select: [2, 8] },
];

const state = new WeakMap(); // form -> { uploads, suggest, linkList, card, previewTimer, draftTimer }
let tagCache = null;
let uid = 0;

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
const headers = () => ({ "X-Requested-With": "memos-web" });

async function errorText(res) {
  const text = await res.text().catch(() => "");
  try {
    return JSON.parse(text).message || res.statusText;
  } catch {
    return res.status === 413 ? t("The upload is too large.") : text.trim() || res.statusText || t("Something went wrong.");
  }
}

function fragment(html) {
  const tpl = document.createElement("template");
  tpl.innerHTML = html.trim();
  return tpl.content;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children);
  return node;
}

// -- per-form set-up --------------------------------------------------------------------------------
function setup(form) {
  if (state.has(form)) return state.get(form);
  const s = { uploads: new Set(), card: null, previewTimer: 0, draftTimer: 0 };
  state.set(form, s);
  form.classList.add("enhanced");
  const ta = form.querySelector("textarea[name=content]");
  form.querySelectorAll("[data-link-toggle], [data-preview-toggle], [data-focus-toggle], [data-location-clear]")
    .forEach((b) => { b.hidden = false; });
  if ("geolocation" in navigator) form.querySelector("[data-geolocate]")?.removeAttribute("hidden");

  // Suggestions for `#` and `/`: a listbox the textarea points at (aria-activedescendant).
  const box = el("ul", { class: "suggest", role: "listbox", id: `suggest-${++uid}`, "aria-label": t("Suggestions"), hidden: true });
  ta.after(box);
  ta.setAttribute("aria-autocomplete", "list");
  ta.setAttribute("aria-controls", box.id);
  s.suggest = new Listbox(box, ta, (item) => item.accept());

  const results = form.querySelector("[data-link-results]");
  const query = form.querySelector("[data-link-query]");
  if (results && query) s.linkList = new Listbox(results, query, (item) => linkMemo(form, item.memo));

  restoreDraft(form, ta);
  fillCreateTime(form);
  grow(ta);
  return s;
}

function editorOf(node) {
  const form = node?.closest?.(EDITOR);
  if (form) setup(form);
  return form;
}

// -- a listbox of suggestions ---------------------------------------------------------------------
class Listbox {
  constructor(list, owner, onPick) {
    this.list = list;
    this.owner = owner;
    this.onPick = onPick;
    this.items = [];
    this.active = -1;
    list.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the field
    list.addEventListener("click", (e) => {
      const li = e.target.closest("[role=option]");
      if (li) this.pick(Number(li.dataset.index));
    });
  }

  get open() {
    return !this.list.hidden;
  }

  show(items) {
    this.items = items;
    if (!items.length) return this.close();
    this.list.replaceChildren(...items.map((item, i) => {
      const li = el("li", { role: "option", id: `${this.list.id}-${i}`, "data-index": i, "aria-selected": "false" }, item.label);
      if (item.detail != null) li.append(" ", el("span", { class: "muted" }, String(item.detail)));
      return li;
    }));
    this.list.hidden = false;
    if (this.owner.getAttribute("role") === "combobox") this.owner.setAttribute("aria-expanded", "true");
    this.move(0, true);
  }

  move(delta, absolute = false) {
    if (!this.items.length) return;
    const n = this.items.length;
    this.active = absolute ? delta : (this.active + delta + n) % n;
    [...this.list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === this.active)));
    const current = this.list.children[this.active];
    this.owner.setAttribute("aria-activedescendant", current.id);
    current.scrollIntoView({ block: "nearest" });
  }

  pick(index = this.active) {
    const item = this.items[index];
    this.close();
    if (item) this.onPick(item);
  }

  close() {
    this.list.hidden = true;
    this.list.replaceChildren();
    this.items = [];
    this.active = -1;
    this.owner.removeAttribute("aria-activedescendant");
    if (this.owner.getAttribute("role") === "combobox") this.owner.setAttribute("aria-expanded", "false");
  }

  // Arrow keys move, Enter/Tab accept, Escape closes; true when the key was ours.
  key(e) {
    if (!this.open) return false;
    if (e.key === "ArrowDown") this.move(1);
    else if (e.key === "ArrowUp") this.move(-1);
    else if (e.key === "Enter" || e.key === "Tab") this.pick();
    else if (e.key === "Escape") this.close();
    else return false;
    e.preventDefault();
    e.stopPropagation();
    return true;
  }
}

// -- text edits that keep the undo history where the browser allows ---------------------------------
function replaceRange(ta, start, end, text, select) {
  ta.focus();
  ta.setSelectionRange(start, end);
  const done = start === end && !text ? true : document.execCommand?.(text ? "insertText" : "delete", false, text);
  if (!done) {
    ta.setRangeText(text, start, end, "end");
    ta.dispatchEvent(new Event("input", { bubbles: true }));
  }
  if (select) ta.setSelectionRange(start + select[0], start + select[1]);
}

// Enter on a list item starts the next one (`- `, `* `, `1. `, `- [ ] `); on an empty item it
// ends the list.
function continueList(ta) {
  const pos = ta.selectionStart;
  if (pos !== ta.selectionEnd) return false;
  const value = ta.value;
  const lineStart = value.lastIndexOf("\n", pos - 1) + 1;
  let lineEnd = value.indexOf("\n", pos);
  if (lineEnd < 0) lineEnd = value.length;
  const line = value.slice(lineStart, lineEnd);
  const m = LIST_ITEM.exec(line);
  if (!m || pos < lineStart + m[0].length) return false;
  if (!line.slice(m[0].length).trim()) {
    replaceRange(ta, lineStart, lineEnd, "");
    return true;
  }
  let marker = m[2];
  if (/^\d/.test(marker)) marker = `${parseInt(marker, 10) + 1}${marker.slice(-1)}`;
  replaceRange(ta, pos, pos, `\n${m[1]}${marker}${m[3]}${m[4] ? "[ ] " : ""}`);
  return true;
}

// -- `#` tags and `/` snippets ------------------------------------------------------------------------
async function loadTags() {
  if (!tagCache) {
    tagCache = fetch("/web/tags", { headers: headers(), credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : { tags: [] }))
      .then((d) => d.tags || [])
      .catch(() => []);
  }
  return tagCache;
}

function tokenAtCaret(ta) {
  const pos = ta.selectionStart;
  if (pos !== ta.selectionEnd) return null;
  const before = ta.value.slice(0, pos);
  const lineStart = before.lastIndexOf("\n") + 1;
  const line = before.slice(lineStart);
  let m = /(?:^|\s)#([^\s#]*)$/u.exec(line);
  if (m) return { kind: "tag", query: m[1], start: pos - m[1].length - 1, end: pos };
  m = /^\/(\w*)$/.exec(line);
  if (m) return { kind: "snippet", query: m[1].toLowerCase(), start: lineStart, end: pos };
  return null;
}

async function suggest(form, ta) {
  const s = state.get(form);
  const token = tokenAtCaret(ta);
  if (!token) return s.suggest.close();
  let items;
  if (token.kind === "tag") {
    const q = token.query.toLowerCase();
    const tags = await loadTags();
    if (tokenAtCaret(ta)?.start !== token.start) return; // typed on meanwhile
    const starts = tags.filter((tag) => tag.name.toLowerCase().startsWith(q));
    const contains = tags.filter((tag) => !tag.name.toLowerCase().startsWith(q) && tag.name.toLowerCase().includes(q));
    items = [...starts, ...contains].slice(0, 8).map((tag) => ({
      label: `#${tag.name}`,
      detail: tag.count,
      accept: () => replaceRange(ta, token.start, tokenAtCaret(ta)?.end ?? token.end, `#${tag.name} `),
    }));
    if (items.length === 1 && starts[0]?.name === token.query) items = []; // already complete
  } else {
    items = SNIPPETS.filter((sn) => !token.query || `${sn.label} ${sn.keywords}`.toLowerCase().includes(token.query))
      .map((sn) => ({ label: sn.label, accept: () => replaceRange(ta, token.start, token.end, sn.text, sn.select) }));
  }
  s.suggest.show(items);
  place(s.suggest.list, ta);
}

// Under the caret's line: a mirror of the text up to the caret tells how far down it is.
function place(list, ta) {
  const mirror = el("div", { class: "editor-mirror", "aria-hidden": "true" });
  const style = getComputedStyle(ta);
  for (const p of ["font", "lineHeight", "padding", "border", "letterSpacing", "whiteSpace", "wordWrap", "boxSizing"]) {
    mirror.style[p] = style[p];
  }
  mirror.style.width = `${ta.clientWidth}px`;
  mirror.textContent = ta.value.slice(0, ta.selectionStart);
  const marker = el("span", {}, "\u200b");
  mirror.append(marker);
  document.body.append(mirror);
  const top = Math.min(marker.offsetTop + marker.offsetHeight - ta.scrollTop, ta.clientHeight);
  mirror.remove();
  list.style.top = `${ta.offsetTop + top + 4}px`;
  list.style.left = `${ta.offsetLeft + 8}px`;
}

// -- growing textarea ---------------------------------------------------------------------------------
const fieldSizing = window.CSS?.supports?.("field-sizing", "content");
function grow(ta) {
  if (fieldSizing || !ta) return;
  ta.style.height = "auto";
  ta.style.height = `${ta.scrollHeight + 2}px`;
}

// -- drafts (content only, never a token) ------------------------------------------------------------
function draftKey(form) {
  const key = form.dataset.draftKey || "";
  return key && !key.includes(":edit:") ? DRAFTS + key : "";
}

function restoreDraft(form, ta) {
  const key = draftKey(form);
  if (!key || ta.value) return;
  try {
    const text = localStorage.getItem(key);
    if (text) ta.value = text;
  } catch { /* storage unavailable */ }
}

function keepDraft(form, ta) {
  const key = draftKey(form);
  if (!key) return;
  const s = state.get(form);
  clearTimeout(s.draftTimer);
  s.draftTimer = setTimeout(() => {
    try {
      if (ta.value.trim()) localStorage.setItem(key, ta.value);
      else localStorage.removeItem(key);
    } catch { /* storage unavailable or full */ }
  }, 250);
}

function dropDraft(form) {
  const key = draftKey(form);
  clearTimeout(state.get(form)?.draftTimer);
  try {
    if (key) localStorage.removeItem(key);
  } catch { /* storage unavailable */ }
}

// -- created time: shown in local time, sent as RFC 3339 -----------------------------------------------
const pad = (n) => String(n).padStart(2, "0");
function localInput(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fillCreateTime(form) {
  const input = form.querySelector("[data-create-time]");
  const hidden = form.elements.createTime;
  if (!input || !hidden) return;
  const d = new Date(hidden.value);
  if (Number.isNaN(d.getTime())) return;
  input.dataset.initial = localInput(d);
  if (input.dataset.createTime !== "typed") input.value = input.dataset.initial;
}

function createTimeInto(form, data) {
  const input = form.querySelector("[data-create-time]");
  if (!input) return;
  data.delete("createTimeLocal");
  if (!input.value || input.value === input.dataset.initial) return;
  const d = new Date(input.value); // a datetime-local value without offset is local time
  if (!Number.isNaN(d.getTime())) data.set("createTime", d.toISOString().replace(/\.\d{3}Z$/, "Z"));
}

// -- errors next to the editor ---------------------------------------------------------------------
function showError(form, message) {
  const p = form.querySelector("[data-editor-error]");
  if (!p) return toast(message);
  p.textContent = message;
  p.hidden = false;
}

function clearError(form) {
  const p = form.querySelector("[data-editor-error]");
  if (p) {
    p.hidden = true;
    p.textContent = "";
  }
}

// -- attachments ------------------------------------------------------------------------------------
function removableChip(kind, name, value, label, removeLabel) {
  return el(
    "span",
    { class: `chip ${kind}-chip` },
    el("input", { type: "hidden", name, value }),
    label,
    el("button", { type: "button", class: "chip-x", "data-remove-chip": true, "aria-label": removeLabel }, "×"),
  );
}

function uploadFiles(form, files) {
  const s = setup(form);
  const chips = form.querySelector("[data-attachments]");
  clearError(form);
  for (const file of files) {
    const progress = el("progress", { max: "100", value: "0", "aria-label": t("Uploading %(name)s", { name: file.name }) });
    const cancel = el("button", { type: "button", class: "chip-x", "aria-label": t("Cancel upload of %(name)s", { name: file.name }) }, "×");
    const chip = el("span", { class: "chip attachment-chip uploading" }, progress, file.name, cancel);
    chips.append(chip);
    const done = new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/web/attachments");
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("X-Requested-With", "memos-web");
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100);
      });
      const fail = (message) => {
        chip.remove();
        showError(form, message);
        resolve();
      };
      xhr.addEventListener("load", () => {
        const a = xhr.response?.attachments?.[0];
        if (xhr.status !== 200 || !a) {
          const why = xhr.response?.message || (xhr.status === 413 ? t("the file is too large") : t("error %(status)s", { status: xhr.status }));
          return fail(t("Could not upload %(name)s: %(why)s", { name: file.name, why }));
        }
        chip.replaceWith(removableChip("attachment", "attachment", a.name, a.filename, t("Remove attachment %(name)s", { name: a.filename })));
        resolve();
      });
      xhr.addEventListener("error", () => fail(t("Could not upload %(name)s: the connection failed", { name: file.name })));
      xhr.addEventListener("abort", () => { chip.remove(); resolve(); });
      cancel.addEventListener("click", () => xhr.abort());
      const data = new FormData();
      data.append("file", file, file.name);
      xhr.send(data);
    });
    s.uploads.add(done);
    done.finally(() => s.uploads.delete(done));
  }
}

// -- linking another memo ----------------------------------------------------------------------------
function toggleLinkPanel(form, open) {
  const panel = form.querySelector("[data-link-panel]");
  const button = form.querySelector("[data-link-toggle]");
  const s = setup(form);
  panel.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (open) {
    const q = panel.querySelector("[data-link-query]");
    q.value = "";
    q.focus();
    searchMemos(form, "");
  } else {
    s.linkList?.close();
  }
}

async function searchMemos(form, q) {
  const s = setup(form);
  const res = await fetch(`/web/memos/search?q=${encodeURIComponent(q)}`, { headers: headers(), credentials: "same-origin" });
  if (!res.ok) return showError(form, await errorText(res));
  const { memos } = await res.json();
  const query = form.querySelector("[data-link-query]");
  if (query.value !== q) return; // a newer search is under way
  const taken = new Set([...form.querySelectorAll("input[name=relation]")].map((i) => i.value));
  if (form.dataset.editUid) taken.add(`memos/${form.dataset.editUid}`);
  const items = memos.filter((m) => !taken.has(m.name))
    .map((m) => ({ label: m.snippet || m.name, detail: new Date(m.createTime).toLocaleDateString(), memo: m }));
  s.linkList.show(items);
  if (!items.length) {
    s.linkList.list.replaceChildren(el("li", { class: "muted", role: "presentation" }, t("No memos found")));
    s.linkList.list.hidden = false;
  }
}

function linkMemo(form, memo) {
  const label = (memo.snippet || memo.name).slice(0, 40);
  const chip = removableChip("relation", "relation", memo.name, label, t("Remove link to %(title)s", { title: label }));
  chip.insertBefore(el("span", { "aria-hidden": "true" }, "↗ "), chip.childNodes[1]);
  form.querySelector("[data-relations]").append(chip);
  toggleLinkPanel(form, false);
  form.querySelector("textarea[name=content]").focus();
}

// -- location ----------------------------------------------------------------------------------------
function setLocation(form, lat, lng) {
  form.querySelector("[data-location-lat]").value = lat;
  form.querySelector("[data-location-lng]").value = lng;
  form.querySelector("[data-location-coords]").textContent = lat !== "" ? `${lat}, ${lng}` : "";
  updateLocationSummary(form);
}

function updateLocationSummary(form) {
  const details = form.querySelector("[data-location]");
  const place = form.querySelector("[data-location-place]").value.trim();
  const lat = form.querySelector("[data-location-lat]").value;
  const lng = form.querySelector("[data-location-lng]").value;
  const text = place || (lat !== "" ? `${lat}, ${lng}` : "");
  details.querySelector("summary").textContent = text ? t("Location: %(place)s", { place: text }) : t("Location");
  details.toggleAttribute("data-has-location", Boolean(text));
}

function geolocate(form, button) {
  button.setAttribute("aria-busy", "true");
  navigator.geolocation.getCurrentPosition(
    (pos) => {
      button.removeAttribute("aria-busy");
      setLocation(form, pos.coords.latitude.toFixed(6), pos.coords.longitude.toFixed(6));
    },
    (err) => {
      button.removeAttribute("aria-busy");
      showError(form, t("Could not get your position: %(why)s. Type a place name instead.", { why: err.message || t("permission denied") }));
    },
    { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 },
  );
}

// -- preview and focus mode ----------------------------------------------------------------------------
async function renderPreview(form) {
  const box = form.querySelector("[data-preview]");
  const res = await post("/web/preview", { content: form.querySelector("textarea[name=content]").value });
  if (!res.ok) return showError(form, await errorText(res));
  const { html } = await res.json();
  box.innerHTML = html; // the markdown plugin's safe renderer, as on the cards
  enhance(box);
}

function togglePreview(form, button) {
  const on = button.getAttribute("aria-pressed") !== "true";
  button.setAttribute("aria-pressed", String(on));
  form.querySelector("[data-preview]").hidden = !on;
  if (on) renderPreview(form);
}

function setFocusMode(form, on) {
  form.classList.toggle("focus-mode", on);
  document.documentElement.classList.toggle("editor-focused", on);
  form.querySelector("[data-focus-toggle]")?.setAttribute("aria-pressed", String(on));
  form.querySelector("textarea[name=content]").focus();
}

// -- saving ---------------------------------------------------------------------------------------------
function scopeOf(card) {
  if (card.closest("[data-comment-list]")) return "comment";
  return location.pathname.startsWith("/explore") ? "explore" : "";
}

function resetEditor(form) {
  const ta = form.querySelector("textarea[name=content]");
  ta.value = "";
  grow(ta);
  form.querySelectorAll("[data-attachments], [data-relations]").forEach((c) => c.replaceChildren());
  if (form.querySelector("[data-location-place]")) {
    form.querySelector("[data-location-place]").value = "";
    setLocation(form, "", "");
  }
  const preview = form.querySelector("[data-preview]");
  if (preview) preview.replaceChildren();
  dropDraft(form);
}

function insertCard(form, card) {
  if (form.dataset.parent) {
    const list = document.querySelector("[data-comment-list]");
    if (!list) return false;
    const uidOf = card.dataset.memo.replace(/^memos\//, "");
    list.prepend(el("div", { id: `comment-${uidOf}` }, card));
    return true;
  }
  const list = document.querySelector("[data-memo-list]");
  if (!list) return false;
  list.querySelector(":scope > .empty")?.remove();
  document.getElementById(card.id)?.remove(); // already drawn (a live refresh got there first)
  const firstUnpinned = list.querySelector(":scope > .memo:not(.pinned)");
  if (firstUnpinned) firstUnpinned.before(card);
  else list.prepend(card);
  return true;
}

async function save(form) {
  const s = setup(form);
  const button = form.querySelector("button[type=submit]");
  if (button.disabled) return;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    if (s.uploads.size) await Promise.all([...s.uploads]);
    const data = new FormData(form);
    data.delete("files"); // chosen files were uploaded already, as chips
    createTimeInto(form, data);
    if (s.card) data.set("scope", scopeOf(s.card));
    let res;
    try {
      res = await post(form.action, data);
    } catch {
      return showError(form, t("Could not reach the server: nothing was lost, try again."));
    }
    if (!res.ok) return showError(form, await errorText(res));
    clearError(form);
    const card = fragment(await res.text()).querySelector("[data-memo]");
    if (form.dataset.editUid) {
      dropDraft(form);
      if (s.card && card) {
        form.replaceWith(card);
        enhance(card);
        card.querySelector("summary")?.focus();
      } else {
        location.assign(form.elements.next?.value || `/memos/${form.dataset.editUid}`);
      }
      return;
    }
    if (!card || !insertCard(form, card)) {
      dropDraft(form);
      return location.assign(form.elements.next?.value || "/home");
    }
    enhance(card);
    resetEditor(form);
    tagCache = null; // the memo may have brought new tags
    toast(form.dataset.parent ? t("Comment added") : t("Saved"));
    form.querySelector("textarea[name=content]").focus();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// -- editing a card in place ---------------------------------------------------------------------------
async function editInPlace(card) {
  const uidOf = card.dataset.memo.replace(/^memos\//, "");
  const res = await fetch(`/web/memos/${encodeURIComponent(uidOf)}/editor`, { headers: headers(), credentials: "same-origin" });
  if (!res.ok) return toast(await errorText(res));
  const form = fragment(await res.text()).querySelector(EDITOR);
  if (!form) return;
  card.replaceWith(form);
  setup(form).card = card;
  const ta = form.querySelector("textarea[name=content]");
  ta.focus();
  ta.setSelectionRange(ta.value.length, ta.value.length);
}

function cancelEdit(form) {
  const { card } = setup(form);
  if (!card) return false;
  setFocusMode(form, false);
  form.replaceWith(card);
  card.querySelector("summary")?.focus();
  return true;
}

// -- events ---------------------------------------------------------------------------------------------
document.addEventListener("submit", (e) => {
  const form = e.target.closest(EDITOR);
  if (!form) return;
  e.preventDefault();
  save(form);
});

document.addEventListener("keydown", (e) => {
  const form = editorOf(e.target);
  if (!form) return;
  const s = state.get(form);
  if (e.isComposing || e.keyCode === 229) return; // an IME is composing: its keys are not ours
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    s.suggest.close();
    form.requestSubmit();
    return;
  }
  if (e.key === "Enter" && e.target.matches("[data-location-place]")) {
    e.preventDefault(); // not a save: the place is typed, back to the text
    form.querySelector("[data-location]").open = false;
    form.querySelector("textarea[name=content]").focus();
    return;
  }
  if (e.target.matches("[data-link-query]")) {
    if (s.linkList?.key(e)) return;
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      toggleLinkPanel(form, false);
      form.querySelector("[data-link-toggle]").focus();
    }
    return;
  }
  if (e.target.matches("textarea[name=content]")) {
    if (s.suggest.key(e)) return;
    if (e.key === "Enter" && !e.shiftKey && !e.altKey && continueList(e.target)) {
      e.preventDefault();
      return;
    }
  }
  if (e.key === "Escape" && form.classList.contains("focus-mode")) {
    e.preventDefault();
    e.stopPropagation();
    setFocusMode(form, false);
  }
}, true);

document.addEventListener("input", (e) => {
  const form = editorOf(e.target);
  if (!form) return;
  const s = state.get(form);
  if (e.target.matches("[data-link-query]")) {
    clearTimeout(s.searchTimer);
    s.searchTimer = setTimeout(() => searchMemos(form, e.target.value), 200);
    return;
  }
  if (e.target.matches("[data-location-place]")) return updateLocationSummary(form);
  if (!e.target.matches("textarea[name=content]")) return;
  grow(e.target);
  keepDraft(form, e.target);
  if (!e.isComposing) suggest(form, e.target);
  if (form.querySelector("[data-preview-toggle]")?.getAttribute("aria-pressed") === "true") {
    clearTimeout(s.previewTimer);
    s.previewTimer = setTimeout(() => renderPreview(form), 400);
  }
});

document.addEventListener("focusout", (e) => {
  const form = editorOf(e.target);
  if (!form || !e.target.matches("textarea[name=content]")) return;
  state.get(form).suggest.close();
});

document.addEventListener("click", (e) => {
  const edit = e.target.closest("a[data-edit]");
  if (edit) {
    const card = edit.closest("[data-memo]");
    if (!card) return;
    e.preventDefault();
    edit.closest("details")?.removeAttribute("open");
    editInPlace(card);
    return;
  }
  const form = editorOf(e.target);
  if (!form) return;
  const target = e.target.closest("button, a");
  if (!target) return;
  if (target.matches("[data-remove-chip]")) {
    target.closest(".chip").remove();
    form.querySelector("textarea[name=content]").focus();
  } else if (target.matches("[data-link-toggle]")) {
    toggleLinkPanel(form, form.querySelector("[data-link-panel]").hidden);
  } else if (target.matches("[data-preview-toggle]")) {
    togglePreview(form, target);
  } else if (target.matches("[data-focus-toggle]")) {
    setFocusMode(form, !form.classList.contains("focus-mode"));
  } else if (target.matches("[data-geolocate]")) {
    geolocate(form, target);
  } else if (target.matches("[data-location-clear]")) {
    form.querySelector("[data-location-place]").value = "";
    setLocation(form, "", "");
  } else if (target.matches("[data-cancel-edit]")) {
    if (cancelEdit(form)) e.preventDefault();
  } else {
    return;
  }
  if (target.tagName === "BUTTON") e.preventDefault();
});

document.addEventListener("change", (e) => {
  if (!e.target.matches("[data-file-input]")) return;
  const form = editorOf(e.target);
  if (!form || !e.target.files.length) return;
  uploadFiles(form, [...e.target.files]);
  e.target.value = ""; // uploaded now: the form must not send them again
});

// Drag-and-drop and paste of files.
const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
document.addEventListener("dragover", (e) => {
  const form = editorOf(e.target);
  if (!form || !hasFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = "copy";
  form.classList.add("dragging");
});
document.addEventListener("dragleave", (e) => {
  const form = e.target.closest?.(EDITOR);
  if (form && !form.contains(e.relatedTarget)) form.classList.remove("dragging");
});
document.addEventListener("drop", (e) => {
  const form = editorOf(e.target);
  if (!form || !e.dataTransfer?.files?.length) return;
  e.preventDefault();
  form.classList.remove("dragging");
  uploadFiles(form, [...e.dataTransfer.files]);
});
document.addEventListener("paste", (e) => {
  const form = editorOf(e.target);
  if (!form || !e.target.matches("textarea[name=content]")) return;
  const files = [...(e.clipboardData?.files || [])];
  if (!files.length || e.clipboardData.getData("text/plain")) return; // text wins over its picture
  e.preventDefault();
  uploadFiles(form, files);
});

function init() {
  document.querySelectorAll(EDITOR).forEach(setup);
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
