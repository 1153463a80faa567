// The expert's feedback by group in headless Chromium: at phone and desktop widths, each theme's
// previous distribution for the whole panel and for each group, the expert's own group marked,
// a group below the minimum size (or one that would reveal it) said in words with no chart, no
// sideways scrolling, and WCAG 2.1 AA by axe-core. Prints one JSON line; exits non-zero on a
// failure.
//
//   node tests/browser/feedback.mjs BASE_URL TOKEN ROUND_NUMBER SHOWN_GROUP HIDDEN_GROUP
import { checkAccessibility, done, fail, launch } from "./common.mjs";

const [base, token, round, shownGroup, hiddenGroup] = process.argv.slice(2);
const browser = await launch();
try {
  for (const width of [390, 1280]) {
    const ctx = await browser.newContext({ viewport: { width, height: 800 } });
    const page = await ctx.newPage();
    const path = `/p/${token}/rounds/${round}`;
    const resp = await page.goto(base + path);
    if (resp.status() !== 200) fail(`${path} answered ${resp.status()}`);
    await checkAccessibility(page, `${path} at ${width}px`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) fail(`${path} scrolls sideways by ${overflow}px at ${width}px`);
    const groups = await page.evaluate(() => [...document.querySelectorAll(".feedback")].map(f => ({
      whole: !!f.querySelector(":scope > figure svg"),
      groups: [...f.querySelectorAll("li.feedback-group")].map(g => ({
        name: g.querySelector("strong").textContent.trim(),
        own: g.classList.contains("own") && !!g.querySelector(".badge"),
        chart: !!g.querySelector("svg"),
        visible: g.getBoundingClientRect().width > 0,
        text: g.textContent,
      })),
    })));
    if (!groups.length) fail("no feedback on the page");
    for (const [i, f] of groups.entries()) {
      if (!f.whole) fail(`theme ${i + 1}: no chart of the whole panel`);
      const shown = f.groups.find(g => g.name === shownGroup);
      const hidden = f.groups.find(g => g.name === hiddenGroup);
      if (!shown || !hidden) fail(`theme ${i + 1}: groups ${JSON.stringify(f.groups.map(g => g.name))}`);
      if (!shown.chart || !shown.own || !shown.visible) fail(`theme ${i + 1}: own group ${JSON.stringify(shown)}`);
      if (hidden.chart || hidden.own || /median/i.test(hidden.text)) {
        fail(`theme ${i + 1}: a hidden group shows figures: ${JSON.stringify(hidden)}`);
      }
    }
    done.push(`feedback by group at ${width}px: ${groups.length} themes`);
    await page.screenshot({ path: `${process.env.TMPDIR || "/tmp"}/orakel-feedback-${width}.png`, fullPage: true });
    await ctx.close();
  }
  console.log(JSON.stringify({ ok: true, done }));
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
