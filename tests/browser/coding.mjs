// Drives a researcher's coding page in headless Chromium: accessibility (axe-core, WCAG 2.1 AA)
// of the round-1 pages, a passage selected with the mouse and coded to a theme, a sentence
// chosen with the keyboard and coded to another, a coding removed, a filter by theme, and no
// Content-Security-Policy violation on the way. Prints one JSON line; exits non-zero on failure.
//
//   node tests/browser/coding.mjs BASE_URL EMAIL PASSWORD STUDY_ID TRANSCRIPT_ID THEME1_ID THEME2_ID
import { checkAccessibility, done, fail, launch, login } from "./common.mjs";

const [base, email, password, study, transcript, theme1, theme2] = process.argv.slice(2);

const browser = await launch();
try {
  // 1. Accessibility of the round-1 pages at desktop and narrow widths.
  for (const width of [1280, 390]) {
    const ctx = await browser.newContext({ bypassCSP: true, viewport: { width, height: 900 } });
    const page = await login(ctx, base, email, password);
    for (const path of [`/studies/${study}/coding`, `/transcripts/${transcript}`, `/studies/${study}/coding/overview`,
      `/studies/${study}/coding/agreement`, `/themes/${theme1}`]) {
      const resp = await page.goto(base + path);
      if (resp.status() !== 200) fail(`${path} answered ${resp.status()}`);
      await checkAccessibility(page, `${path} at ${width}px`);
      done.push(`axe ${width}px ${path}`);
    }
    await ctx.close();
  }

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const cspErrors = [];
  const page = await login(ctx, base, email, password);
  page.on("console", m => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
  await page.goto(`${base}/transcripts/${transcript}`);

  // 2. The mouse: drag across a sentence, from its first letter to past its end.
  const run = page.locator("#transcript .seg", { hasText: "Lederne får for lidt støtte!" }).first();
  const box = await run.boundingBox();
  if (!box) fail("the sentence is not on screen");
  await page.mouse.move(box.x + 1, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 5 });
  await page.mouse.move(box.x + box.width - 1, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  const start = Number(await page.locator("#sel-start").inputValue());
  const end = Number(await page.locator("#sel-end").inputValue());
  const o = Number(await run.getAttribute("data-o"));
  if (!(end > start)) fail(`the selection set no offsets: ${start}-${end}`);
  if (Math.abs(start - o) > 1 || Math.abs(end - (o + [..."Lederne får for lidt støtte!"].length)) > 1) {
    fail(`the selection ${start}-${end} is not the sentence at ${o}`);
  }
  const shown = await page.locator("#selection").textContent();
  if (!/støtte/.test(shown)) fail(`the selection is not shown: ${shown}`);
  if (/\d+\s*[–-]\s*\d+/.test(shown)) fail(`the selection shows character offsets: ${shown}`);
  // The code button is with the selection, above the themes, and on screen.
  const before = await page.evaluate(() => {
    const button = document.querySelector("button[value=code]");
    const theme = document.querySelector("input[name=theme]");
    return !!(button.compareDocumentPosition(theme) & Node.DOCUMENT_POSITION_FOLLOWING);
  });
  if (!before) fail("the code button comes after the themes");
  if (!(await page.locator("button[value=code]").isVisible())) fail("the code button is not visible");
  await page.locator(`input[name=theme][value="${theme1}"]`).check();
  await Promise.all([page.waitForLoadState("load"), page.locator("button[value=code]").click()]);
  await page.waitForSelector(`mark.th-${theme1}`);
  const coded = await page.locator(`mark.th-${theme1}`).allTextContents();
  if (!coded.join("").includes("idt støtte")) fail(`the highlight is not the passage: ${coded}`);
  done.push(`mouse ${start}-${end}`);

  // 3. The keyboard: the sentences' check boxes come when asked for; the one before the last
  // answer sentence, and theme 2.
  if (await page.locator("input.unit").count()) fail("check boxes shown without being asked for");
  await Promise.all([page.waitForURL(/boxes=1/), page.locator("#f-passage a").click()]);
  await checkAccessibility(page, "the transcript with its check boxes");
  const box4 = page.locator("input.unit").nth(3);
  await box4.focus();
  await page.keyboard.press("Space");
  await page.locator(`input[name=theme][value="${theme2}"]`).focus();
  await page.keyboard.press("Space");
  await page.locator("button[value=code]").focus();
  await Promise.all([page.waitForLoadState("load"), page.keyboard.press("Enter")]);
  await page.waitForSelector(`mark.th-${theme2}`);
  if (!page.url().includes("boxes=1")) fail("coding with the boxes did not keep them");
  const second = await page.locator(`mark.th-${theme2}`).allTextContents();
  if (second.join("") !== "Små virksomheder mangler rådgivning.") fail(`the keyboard coded ${second}`);
  done.push("keyboard");

  // 4. A filter by theme shows only that theme's passages.
  await page.locator("#filter-theme").selectOption(theme2);
  await Promise.all([page.waitForURL(/theme=/), page.locator("form.filter button").click()]);
  if (await page.locator(`mark.th-${theme1}`).count()) fail("the filter still shows theme 1");
  if (!(await page.locator(`mark.th-${theme2}`).count())) fail("the filter hides theme 2");
  done.push("filter");

  // 5. Removing the coding of theme 2.
  await Promise.all([page.waitForLoadState("load"),
    page.locator("ol.excerpts button[value=remove_coding]").first().click()]);
  await page.goto(`${base}/transcripts/${transcript}`);
  if (await page.locator(`mark.th-${theme2}`).count()) fail("the coding was not removed");
  done.push("removed");
  if (cspErrors.length) fail("CSP violations: " + cspErrors.join(" | "));
  await ctx.close();
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: true, done }));
