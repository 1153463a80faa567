// Reads the funder's report in headless Chromium: accessibility (axe-core, WCAG 2.1 AA) in both
// languages at phone and desktop widths, and no page that scrolls sideways on a phone (a wide
// table scrolls inside its own box). Prints one JSON line with what it did; exits non-zero on a
// failure. With a funder account's password link, the account too: the password page, the list
// of shared reports and the report in it, the same checks, and the report's body as the link's.
//
//   node tests/browser/report.mjs BASE_URL FUNDER_TOKEN [PASSWORD_LINK_TOKEN]
import { checkAccessibility, done, fail, launch } from "./common.mjs";

const [base, token, welcome] = process.argv.slice(2);
const browser = await launch();
try {
  for (const width of [320, 390, 1280]) {
    // axe-core is injected as a script, which the pages' own policy rightly forbids.
    const ctx = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 } });
    const page = await ctx.newPage();
    for (const path of [`/f/${token}`, `/f/${token}?lang=en`]) {
      const resp = await page.goto(base + path);
      if (resp.status() !== 200) fail(`${path} answered ${resp.status()}`);
      if ((await page.locator("table.priorities tbody tr").count()) === 0) fail(`${path} shows no priorities`);
      // What a funder came for comes first: the ranked themes, each in a sentence, and the two
      // words the report turns on, explained once.
      const sections = await page.evaluate(() => [...document.querySelectorAll("article.report > section")].map(s => s.className));
      if (sections[0] !== "ranked") fail(`${path} opens with ${JSON.stringify(sections)}`);
      const ranked = await page.locator("ol.ranked-themes > li").count();
      if (ranked === 0) fail(`${path} ranks no theme`);
      if ((await page.locator("dl.key-terms dt").count()) !== 2) fail(`${path} does not explain priority and consensus`);
      // A hidden cell reads "<k", never its escape.
      if ((await page.locator("body").innerText()).includes("&lt;")) fail(`${path} shows an escaped "<"`);
      await checkAccessibility(page, `${path} at ${width}px`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) fail(`${path} scrolls sideways by ${overflow}px at ${width}px`);
      done.push(`report ${width}px ${path.includes("lang=en") ? "en" : "da"}`);
    }
    await ctx.close();
  }
  if (welcome) {
    const password = "a sentence the funder will remember";
    for (const width of [390, 1366]) {
      const ctx = await browser.newContext({ bypassCSP: true, viewport: { width, height: 800 } });
      const page = await ctx.newPage();
      if (width === 390) {
        // The password page, at a phone's width, then the account's first page says it is done.
        await page.goto(`${base}/funder/welcome/${welcome}`);
        await checkAccessibility(page, "the funder's password page");
        await page.locator("#password").fill(password);
        await page.locator("#again").fill(password);
        await Promise.all([page.waitForNavigation(), page.locator("main form button[type=submit]").click()]);
        if (!(await page.locator(".flash[role=status]").count())) fail("no message after choosing the password");
      } else {
        // Later visits: the same login page as researchers, then the list.
        await page.goto(`${base}/login`);
        await page.locator("input[name=email]").fill("fonden@example.org");
        await page.locator("input[name=password]").fill(password);
        await Promise.all([page.waitForURL(/\/funder$/), page.locator("main form button[type=submit]").click()]);
      }
      const cards = page.locator("ul.cards li a");
      if ((await cards.count()) !== 1) fail(`the account lists ${await cards.count()} reports`);
      await checkAccessibility(page, `the funder's list at ${width}px`);
      let overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) fail(`the funder's list scrolls sideways by ${overflow}px at ${width}px`);
      await Promise.all([page.waitForNavigation(), cards.first().click()]);
      const mine = await page.locator("article.report").innerText();
      await checkAccessibility(page, `the account's report at ${width}px`);
      overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 1) fail(`the account's report scrolls sideways by ${overflow}px at ${width}px`);
      const link = await ctx.newPage();
      await link.goto(`${base}/f/${token}`);
      if ((await link.locator("article.report").innerText()) !== mine) fail("the account's report is not the link's");
      await link.close();
      done.push(`funder account ${width}px: ${width === 390 ? "password chosen" : "logged in"}, listed, report as the link's`);
      await ctx.close();
    }
  }
} catch (e) {
  fail(e.stack || String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: true, done }));
