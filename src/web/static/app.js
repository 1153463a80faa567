// The researchers' pages: what cannot be undone asks first in a dialog (the same words the
// server's confirmation page would show, which is what a browser without JavaScript gets), and
// what was typed on a page survives a switch of language.
(function () {
  "use strict";

  // Confirming: a button or form with data-confirm (or a form counting its chosen boxes).
  function ask(text, yes, onYes) {
    const dialog = document.createElement("dialog");
    dialog.className = "confirm";
    dialog.setAttribute("aria-labelledby", "confirm-text");
    const p = document.createElement("p");
    p.id = "confirm-text";
    p.textContent = text;
    const ok = document.createElement("button");
    ok.type = "button";
    ok.textContent = yes;
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.textContent = document.documentElement.lang === "da" ? "Fortryd" : "Cancel";
    const row = document.createElement("p");
    row.className = "actions";
    row.append(ok, " ", cancel);
    dialog.append(p, row);
    document.body.append(dialog);
    ok.addEventListener("click", () => { dialog.close(); dialog.remove(); onYes(); });
    cancel.addEventListener("click", () => { dialog.close(); dialog.remove(); });
    dialog.addEventListener("cancel", () => dialog.remove());
    dialog.showModal();
    cancel.focus();
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.querySelector("input[name=confirmed]")) return;
    const by = event.submitter;
    let text = by && by.dataset.confirm;
    let yes = by && by.dataset.confirmYes;
    if (!text && form.dataset.confirmCount) {
      const n = form.querySelectorAll(`input[name="${form.dataset.confirmCount}"]:checked`).length;
      if (n === 0) return; // the server says why nothing was sent
      const one = n === 1;
      text = (one ? form.dataset.confirmOne : form.dataset.confirmOther).replaceAll("{n}", n);
      yes = (one ? form.dataset.confirmYesOne : form.dataset.confirmYesOther).replaceAll("{n}", n);
    }
    if (!text) return;
    event.preventDefault();
    ask(text, yes || (by && by.textContent) || "OK", () => {
      const mark = document.createElement("input");
      mark.type = "hidden";
      mark.name = "confirmed";
      mark.value = "1";
      form.append(mark);
      if (by && by.name) {
        const chosen = document.createElement("input");
        chosen.type = "hidden";
        chosen.name = by.name;
        chosen.value = by.value;
        form.append(chosen);
      }
      form.submit();
    });
  });

  // Choosing many: "select all / none" tick the boxes on the page (without JavaScript they are
  // links that load the page ticked), and a count says how many are chosen.
  for (const form of document.querySelectorAll("form[data-confirm-count]")) {
    const name = form.dataset.confirmCount;
    const boxes = () => [...form.querySelectorAll(`input[name="${name}"]`)];
    const out = form.querySelector("output.selected-count");
    const count = () => {
      if (!out) return;
      const n = boxes().filter(b => b.checked).length;
      out.textContent = (n === 1 ? out.dataset.one : out.dataset.other).replaceAll("{n}", n);
    };
    for (const link of form.querySelectorAll("a[data-select]")) {
      link.addEventListener("click", (event) => {
        event.preventDefault();
        const on = link.dataset.select === "all";
        for (const b of boxes()) b.checked = on;
        count();
      });
    }
    form.addEventListener("change", count);
    count();
  }

  // Keeping what was typed through a switch of language.
  const key = "orakel-typed:" + location.pathname + location.search;
  const fields = () => [...document.querySelectorAll("main form")].flatMap((form, f) =>
    [...form.elements].map((el, e) => ({ el, id: `${f}:${e}:${el.name}` })))
    .filter(({ el }) => el.name && !["hidden", "password", "file", "submit", "button"].includes(el.type));
  const switcher = document.querySelector("form.language-switch");
  if (switcher) {
    switcher.addEventListener("submit", () => {
      const typed = {};
      for (const { el, id } of fields()) {
        typed[id] = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
      }
      try { sessionStorage.setItem(key, JSON.stringify(typed)); } catch (e) { /* private mode */ }
    });
  }
  let typed = null;
  try {
    typed = JSON.parse(sessionStorage.getItem(key) || "null");
    sessionStorage.removeItem(key);
  } catch (e) { typed = null; }
  if (typed) {
    for (const { el, id } of fields()) {
      if (!(id in typed)) continue;
      if (el.type === "checkbox" || el.type === "radio") el.checked = typed[id];
      else el.value = typed[id];
      el.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }
})();
