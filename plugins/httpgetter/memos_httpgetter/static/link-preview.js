// memos-httpgetter: fills each link-preview placeholder below a memo once the page has loaded.
// The page never waits on a remote site: the placeholders are empty in the HTML, and only those
// scrolled near the viewport are asked for, one same-origin request each (/web/link-preview).
// Everything shown comes from the remote page, so it is set as text, never as HTML.
(() => {
  "use strict";
  const SELECTOR = "[data-link-preview]";
  const ENDPOINT = "/web/link-preview";
  const started = new WeakSet();

  function hostOf(url) {
    try {
      return new URL(url).host;
    } catch {
      return "";
    }
  }

  function span(className, text) {
    const el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function draw(box, meta) {
    if (!meta || (!meta.title && !meta.description)) return;
    const link = document.createElement("a");
    link.className = "link-preview-card";
    link.href = box.dataset.linkPreview;
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    const text = document.createElement("span");
    text.className = "link-preview-text";
    text.append(span("link-preview-site", meta.siteName || hostOf(meta.url || link.href)));
    if (meta.title) text.append(span("link-preview-title", meta.title));
    if (meta.description) text.append(span("link-preview-description", meta.description));
    link.append(text);
    if (meta.image && meta.image.startsWith("/") && !meta.image.startsWith("//")) {
      const img = document.createElement("img");
      img.className = "link-preview-image";
      img.alt = "";
      img.loading = "lazy";
      img.decoding = "async";
      img.addEventListener("error", () => img.remove());
      img.src = meta.image;
      link.prepend(img);
    }
    box.replaceChildren(link);
    box.classList.add("is-loaded");
  }

  async function load(box) {
    if (started.has(box)) return;
    started.add(box);
    try {
      const res = await fetch(`${ENDPOINT}?url=${encodeURIComponent(box.dataset.linkPreview)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Requested-With": "memos-web" },
      });
      if (res.ok) draw(box, await res.json());
    } catch {
      // A preview is a nicety: a failure leaves the memo as it was.
    }
  }

  const seen =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              if (!entry.isIntersecting) continue;
              seen.unobserve(entry.target);
              for (const box of entry.target.querySelectorAll(SELECTOR)) load(box);
            }
          },
          { rootMargin: "300px 0px" },
        )
      : null;

  function watch(root) {
    const boxes = root.matches && root.matches(SELECTOR) ? [root] : root.querySelectorAll(SELECTOR);
    for (const box of boxes) {
      if (started.has(box)) continue;
      // The placeholder is empty (no size), so watch the card it sits in.
      const card = box.closest("article") || box.parentElement || box;
      if (seen) seen.observe(card);
      else load(box);
    }
  }

  function start() {
    watch(document);
    // Cards added later (more memos, live updates) get their previews too.
    new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) if (node.nodeType === 1) watch(node);
      }
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "complete") start();
  else window.addEventListener("load", start, { once: true });
})();
