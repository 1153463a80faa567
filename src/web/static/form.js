// Saves an expert's answers as they are given, theme by theme, through the same API the form
// falls back to. Without this script the form still works with its Save buttons.
(function () {
  "use strict";
  var form = document.querySelector("form.round[data-api]");
  if (!form || !window.fetch) return;
  var api = form.getAttribute("data-api");
  var lang = document.documentElement.lang === "en" ? "en" : "da";
  var words = {
    da: { saving: "Gemmer …", saved: "Gemt", failed: "Ikke gemt: ", retry: "Ikke gemt – prøv igen." },
    en: { saving: "Saving …", saved: "Saved", failed: "Not saved: ", retry: "Not saved – please try again." }
  }[lang];

  // The time of the save on the study's clock (not the phone's), as the server words it.
  var zone = form.getAttribute("data-zone") || undefined;
  var pattern = form.getAttribute("data-saved");
  function savedText(at) {
    var hm;
    try {
      var parts = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone }).formatToParts(at);
      var get = function (t) { return parts.filter(function (p) { return p.type === t; })[0].value; };
      hm = get("hour") + ":" + get("minute");
    } catch (e) {
      return words.saved;
    }
    return pattern ? pattern.replace("{time}", hm) : words.saved + " " + hm;
  }

  function value(fieldset, prefix) {
    var el = fieldset.querySelector("[name='" + prefix + "." + fieldset.dataset.theme + "']");
    return el ? el.value : null;
  }

  function answerOf(fieldset) {
    var id = fieldset.dataset.theme;
    var checked = fieldset.querySelector("input[type=radio][name='score." + id + "']:checked");
    var score = checked ? checked.value : "";
    var a = { theme_id: id, score: null, dont_know: false };
    if (score === "dk") a.dont_know = true;
    else if (score !== "") a.score = parseInt(score, 10);
    ["comment", "proposal", "reason"].forEach(function (k) {
      var v = value(fieldset, k);
      if (v !== null) a[k] = v;
    });
    return a;
  }

  function show(fieldset, text, bad) {
    var status = fieldset.querySelector(".saved-state");
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", !!bad);
  }

  // One request per theme at a time: a change made while one is under way is sent when it
  // returns, so an older answer can never overtake a newer one.
  var busy = {}, again = {};
  function save(fieldset) {
    var id = fieldset.dataset.theme;
    if (busy[id]) { again[id] = true; return; }
    busy[id] = true;
    fieldset.setAttribute("data-saving", "");
    show(fieldset, words.saving, false);
    function finish() {
      busy[id] = false;
      if (again[id]) { again[id] = false; save(fieldset); } else { fieldset.removeAttribute("data-saving"); }
    }
    fetch(api, {
      method: "PUT",
      // The short reply: the page shows only how many themes are answered.
      headers: { "Content-Type": "application/json", "Prefer": "return=minimal" },
      body: JSON.stringify({ answers: [answerOf(fieldset)], submit: false }),
      credentials: "omit"
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (again[id]) { finish(); return; }
      if (!res.ok) {
        show(fieldset, words.failed + (res.body && res.body.message ? res.body.message : ""), true);
        finish();
        return;
      }
      show(fieldset, savedText(new Date()), false);
      var progress = document.querySelector("#progress p");
      if (progress && res.body && typeof res.body.answered === "number") {
        progress.textContent = progress.textContent.replace(/\d+(\D+)\d+/, res.body.answered + "$1" + res.body.total);
      }
      finish();
    }).catch(function () { show(fieldset, words.retry, true); finish(); });
  }

  var timers = {};
  form.querySelectorAll("fieldset.theme[data-theme]").forEach(function (fieldset) {
    fieldset.addEventListener("change", function () { save(fieldset); });
    fieldset.addEventListener("input", function (e) {
      if (e.target.tagName !== "TEXTAREA") return;
      var id = fieldset.dataset.theme;
      clearTimeout(timers[id]);
      timers[id] = setTimeout(function () { save(fieldset); }, 1500);
    });
  });
})();
