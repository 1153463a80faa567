// The coding page's selection: a passage selected with the mouse or keyboard becomes the
// character offsets (code points, as the server counts) of the hidden `start` and `end` fields;
// the offsets stay behind the page, people read the passage. Without this script (or when asked
// for) the sentences' check boxes choose the passage.
(function () {
  "use strict";
  var text = document.getElementById("transcript");
  var start = document.getElementById("sel-start");
  var end = document.getElementById("sel-end");
  var shown = document.getElementById("selection");
  var clear = document.getElementById("clear-selection");
  if (!text || !start || !end || !shown) return;
  var nothing = shown.textContent;
  var codePoints = function (s) { return Array.from(s).length; };

  // The offset of a DOM position, from the nearest run that carries its offset in data-o.
  function offset(node, off) {
    if (node.nodeType === Node.TEXT_NODE) {
      var run = node.parentElement && node.parentElement.closest("[data-o]");
      if (!run || !text.contains(run)) return null;
      return Number(run.dataset.o) + codePoints(node.data.slice(0, off));
    }
    if (!(node instanceof Element)) return null;
    // A position between children: the start of the next run, or the end of the one before.
    var runs = Array.prototype.slice.call(text.querySelectorAll("[data-o]"));
    var marker = node.childNodes[off] || null;
    for (var i = 0; i < runs.length; i++) {
      var r = runs[i];
      var after = marker ? (marker === r || (marker.compareDocumentPosition(r) & Node.DOCUMENT_POSITION_FOLLOWING) || marker.contains(r))
        : (node.compareDocumentPosition(r) & Node.DOCUMENT_POSITION_FOLLOWING) && !node.contains(r);
      if (after) return Number(r.dataset.o);
    }
    var last = runs[runs.length - 1];
    return last ? Number(last.dataset.o) + codePoints(last.textContent) : null;
  }

  function reset() {
    start.value = "";
    end.value = "";
    shown.textContent = nothing;
    if (clear) clear.hidden = true;
  }

  function take() {
    var sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return;
    var range = sel.getRangeAt(0);
    if (!text.contains(range.commonAncestorContainer)) return;
    var a = offset(range.startContainer, range.startOffset);
    var b = offset(range.endContainer, range.endOffset);
    if (a === null || b === null || b <= a) return;
    var quote = sel.toString().replace(/\s+/g, " ").trim();
    if (!quote) return;
    start.value = String(a);
    end.value = String(b);
    var words = quote.length > 140 ? quote.slice(0, 140) + "…" : quote;
    shown.textContent = (shown.dataset.prefix || "") + "“" + words + "”";
    if (clear) clear.hidden = false;
    // A selection replaces any checked sentences, so the two ways never mix.
    text.querySelectorAll("input.unit:checked").forEach(function (c) { c.checked = false; });
  }

  text.addEventListener("mouseup", take);
  text.addEventListener("keyup", take);
  document.addEventListener("selectionchange", function () {
    var sel = window.getSelection();
    if (sel && !sel.isCollapsed && text.contains(sel.anchorNode)) take();
  });
  text.addEventListener("change", function (ev) {
    if (ev.target.classList.contains("unit") && ev.target.checked) reset();
  });
  if (clear) clear.addEventListener("click", function () {
    reset();
    var sel = window.getSelection();
    if (sel) sel.removeAllRanges();
  });
})();
