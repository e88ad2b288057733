// Double-click a memo to edit it in place, when the instance's "double-click to edit" setting is on
// (the page says so with data-dblclick-edit on <body>). It follows the card menu's own Edit link,
// so the editor module opens the in-place editor (or, without it, the memo's edit page).
document.addEventListener("dblclick", (e) => {
  if (!document.body.hasAttribute("data-dblclick-edit")) return;
  if (e.target.closest("a, button, input, textarea, select, summary, label, details.menu, form, video, audio")) return;
  const card = e.target.closest("[data-memo]");
  const edit = card && [...card.querySelectorAll("a[data-edit]")].find((a) => a.closest("[data-memo]") === card);
  if (!edit) return;
  window.getSelection()?.removeAllRanges(); // the double-click selected a word
  edit.click();
});
