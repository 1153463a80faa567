// The panel's discussion in headless Chromium, at phone and desktop widths: an expert finds a
// theme's thread from the round, posts without JavaScript's help and sees their post wait for
// approval; a researcher approves it on the moderation page; the expert then replies to it.
// No sideways scrolling, WCAG 2.1 AA by axe-core on every page met. Prints one JSON line;
// exits non-zero on a failure.
//
//   node tests/browser/discussion.mjs BASE_URL TOKEN ROUND_NUMBER THEME_ID EMAIL PASSWORD ROUND_ID
import { checkAccessibility, done, fail, launch, login } from "./common.mjs";

const [base, token, round, theme, email, password, roundId] = process.argv.slice(2);
const shots = process.env.TMPDIR || "/tmp";

async function fits(page, label, width) {
  await checkAccessibility(page, `${label} at ${width}px`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`${label} scrolls sideways by ${overflow}px at ${width}px`);
}

const browser = await launch();
try {
  for (const width of [390, 1280]) {
    const ctx = await browser.newContext({ viewport: { width, height: 800 } });
    const page = await ctx.newPage();
    const resp = await page.goto(`${base}/p/${token}/rounds/${round}`);
    if (resp.status() !== 200) fail(`the round answered ${resp.status()}`);
    const link = page.locator(`#theme-${theme} .discussion-link a`);
    await Promise.all([page.waitForURL(/\/discussion$/), link.click()]);
    await fits(page, "the thread", width);
    const text = `Et indlæg skrevet ved ${width} px.`;
    await page.locator("#f-text").fill(text);
    await Promise.all([page.waitForURL(/done=pending/), page.locator("#write-form button[type=submit]").click()]);
    const mine = await page.locator(".post.own").last().textContent();
    if (!mine.includes(text) || !/venter på godkendelse/.test(mine)) fail(`own post not shown as waiting: ${mine}`);
    await fits(page, "the thread with a waiting post", width);

    // The researcher approves it.
    const rctx = await browser.newContext({ viewport: { width, height: 800 } });
    const rpage = await login(rctx, base, email, password);
    await rpage.goto(`${base}/rounds/${roundId}/discussion`);
    await fits(rpage, "the moderation page", width);
    await rpage.screenshot({ path: `${shots}/orakel-moderation-${width}.png`, fullPage: true });
    const waiting = await rpage.locator("button[value=approve]").count();
    const approve = rpage.locator(".post", { hasText: text }).locator("button[value=approve]");
    await Promise.all([rpage.waitForNavigation(), approve.click()]);
    if (await rpage.locator("button[value=approve]").count() !== waiting - 1) fail("the post still waits after approval");
    await rctx.close();

    // Published now: the expert replies to it.
    await page.goto(`${base}/p/${token}/rounds/${round}/themes/${theme}/discussion`);
    const published = page.locator(".post", { hasText: text });
    if (/venter/.test(await published.textContent())) fail("the approved post still waits");
    await Promise.all([page.waitForURL(/reply_to=/), published.getByRole("link").last().click()]);
    await page.locator("#f-text").fill(`Et svar ved ${width} px.`);
    await Promise.all([page.waitForURL(/done=pending/), page.locator("#write-form button[type=submit]").click()]);
    const reply = await page.locator(".post.own").last().textContent();
    if (!/Svar til Deltager \d+/.test(reply)) fail(`the reply does not say whom it answers: ${reply}`);
    await fits(page, "the thread with a reply", width);
    await page.screenshot({ path: `${shots}/orakel-discussion-${width}.png`, fullPage: true });
    done.push(`discussion at ${width}px`);
    await ctx.close();
  }
  console.log(JSON.stringify({ ok: true, done }));
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
