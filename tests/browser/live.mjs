// The expert's page of a live round in headless Chromium, at phone and desktop widths: the
// panel's snapshot beside a theme the expert has answered (a chart and its figures), nothing
// but a word beside one they have not, no sideways scrolling, and WCAG 2.1 AA by axe-core.
// Prints one JSON line; exits non-zero on a failure.
//
//   node tests/browser/live.mjs BASE_URL TOKEN ROUND_NUMBER ANSWERED_THEME_ID OPEN_THEME_ID
import { checkAccessibility, done, fail, launch } from "./common.mjs";

const [base, token, round, answered, open] = process.argv.slice(2);
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
    const live = await page.evaluate(([a, o]) => [a, o].map(id => {
      const box = document.querySelector(`#theme-${id} .feedback.live`);
      return box && { chart: !!box.querySelector("svg"), text: box.textContent.replace(/\s+/g, " ").trim(),
        visible: box.getBoundingClientRect().width > 0 };
    }), [answered, open]);
    const [mine, other] = live;
    if (!mine || !mine.chart || !mine.visible || !/\b4\b/.test(mine.text)) {
      fail(`the answered theme shows no snapshot: ${JSON.stringify(mine)}`);
    }
    if (!other || other.chart || /median/i.test(other.text)) {
      fail(`a theme not yet answered shows the panel: ${JSON.stringify(other)}`);
    }
    done.push(`live round at ${width}px`);
    await page.screenshot({ path: `${process.env.TMPDIR || "/tmp"}/orakel-live-${width}.png`, fullPage: true });
    await ctx.close();
  }
  console.log(JSON.stringify({ ok: true, done }));
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
