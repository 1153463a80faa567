// Drives an expert's round in headless Chromium: accessibility (axe-core, WCAG 2.1 AA) of the
// expert's pages at phone and desktop widths, answering with the mouse and the keyboard while
// the page saves by itself, the plain form without JavaScript, and no Content-Security-Policy
// violation on the way. Prints one JSON line with what it did; exits non-zero on a failure.
//
//   node tests/browser/round.mjs BASE_URL TOKEN ROUND_NUMBER THEME1_ID THEME2_ID
import { checkAccessibility, done, fail, launch } from "./common.mjs";

const [base, token, round, theme1, theme2] = process.argv.slice(2);
const browser = await launch();
try {
  // 1. Accessibility of every expert page, at 320 px and at desktop width.
  for (const width of [320, 1280]) {
    const ctx = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 } });
    const page = await ctx.newPage();
    for (const path of [`/p/${token}`, `/p/${token}/rounds/${round}`, `/p/${token}/unsubscribe`]) {
      const resp = await page.goto(base + path);
      if (resp.status() !== 200) fail(`${path} answered ${resp.status()}`);
      await checkAccessibility(page, `${path} at ${width}px`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) fail(`${path} scrolls sideways by ${overflow}px at ${width}px`);
      done.push(`axe ${width}px ${path}`);
      if (path.includes("/rounds/")) {
        // The scale reads in order: every point of a theme in one row, nothing chosen yet.
        const rows = await page.evaluate(() => [...document.querySelectorAll("fieldset.theme")].map(f =>
          new Set([...f.querySelectorAll(".scale-row label.point")].map(l => Math.round(l.getBoundingClientRect().top))).size));
        if (rows.some(n => n !== 1)) fail(`the points wrap into ${JSON.stringify(rows)} rows at ${width}px`);
        const chosen = await page.locator("fieldset.theme input[type=radio]:checked").count();
        if (chosen !== 0) fail(`${chosen} choices made before the expert chose`);
        // The theme's title inside its card.
        const outside = await page.evaluate(() => [...document.querySelectorAll("fieldset.theme")].filter(f => {
          const card = f.getBoundingClientRect(), title = f.querySelector("legend").getBoundingClientRect();
          return title.top < card.top || title.right > card.right + 1;
        }).length);
        if (outside) fail(`${outside} theme titles outside their cards at ${width}px`);
        done.push(`scale in one row at ${width}px`);
      }
    }
    await ctx.close();
  }

  // 2. Answering with JavaScript: a click and the keyboard, saved without pressing a button.
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await ctx.newPage();
  const cspErrors = [];
  page.on("console", m => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
  await page.goto(`${base}/p/${token}/rounds/${round}`);
  const fs1 = page.locator(`fieldset[data-theme="${theme1}"]`);
  await fs1.locator(`input[type=radio][value="4"]`).click();
  await fs1.locator(".saved-state", { hasText: /Gemt|Saved/ }).waitFor({ timeout: 10000 });
  done.push("click saved");
  await fs1.locator("textarea[name^='comment.']").fill("Skrevet i browseren: æøå");
  await page.waitForTimeout(1700);
  await page.locator(`fieldset[data-theme="${theme1}"]:not([data-saving])`).locator(".saved-state", { hasText: /Gemt|Saved/ }).waitFor({ timeout: 10000 });
  done.push("comment saved");
  // The keyboard: focus the first score of theme 2 and move to the next with the arrow key.
  const fs2 = page.locator(`fieldset[data-theme="${theme2}"]`);
  await fs2.locator(`input[type=radio][value="0"]`).focus();
  await page.keyboard.press("Space");
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  // Saved, and nothing still under way for the theme.
  await page.locator(`fieldset[data-theme="${theme2}"]:not([data-saving])`).locator(".saved-state", { hasText: /Gemt|Saved/ }).waitFor({ timeout: 10000 });
  done.push("keyboard saved");
  await page.reload();
  if (!(await fs1.locator(`input[type=radio][value="4"]`).isChecked())) fail("theme 1 lost its score on reload");
  if (!(await fs2.locator(`input[type=radio][value="2"]`).isChecked())) fail("theme 2 did not keep the keyboard's score");
  if ((await fs1.locator("textarea[name^='comment.']").inputValue()) !== "Skrevet i browseren: æøå") fail("the comment was not kept");
  await page.locator("button[value=submit]").click();
  // Finishing is an ending: a page that thanks, says what comes next and leads back.
  await page.waitForURL(/\/done$/);
  const donePage = page.url();
  await page.locator("h1", { hasText: /Tak for dine svar|Thank you for your answers/ }).waitFor();
  await page.locator("a", { hasText: /Se eller ret dine svar|See or change your answers/ }).click();
  await page.waitForURL(new RegExp(`/rounds/${round}$`));
  done.push("submitted, thanked, back to the answers");
  if (cspErrors.length) fail("CSP violations: " + cspErrors.join(" | "));
  await ctx.close();
  for (const width of [320, 1280]) {
    const checked = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 } });
    const p = await checked.newPage();
    await p.goto(donePage);
    await checkAccessibility(p, `the page after finishing at ${width}px`);
    await checked.close();
  }

  // 3. The same form without JavaScript.
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const p2 = await plain.newPage();
  await p2.goto(`${base}/p/${token}/rounds/${round}`);
  await p2.locator(`fieldset[data-theme="${theme2}"] input[type=radio][value="3"]`).check();
  await p2.locator("button[value=save]").first().click();
  await p2.waitForURL(/saved=saved/);
  if (!(await p2.locator(`fieldset[data-theme="${theme2}"] input[type=radio][value="3"]`).isChecked())) fail("the plain form did not save");
  done.push("plain form saved");
  await plain.close();
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: true, done }));
