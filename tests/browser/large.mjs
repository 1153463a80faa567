// A study of thousands in headless Chromium, at phone and desktop widths: the recruitment page,
// the round's progress, one theme's comments, the outbox and the audit log each arrive under
// 300 KB, fit without sideways scrolling and pass WCAG 2.1 AA by axe-core; searching and
// filtering find one panellist among thousands. Prints one JSON line; exits non-zero on a
// failure.
//
//   node tests/browser/large.mjs BASE_URL EMAIL PASSWORD STUDY_ID ROUND_ID THEME_ID
import { checkAccessibility, done, fail, launch, login } from "./common.mjs";

const [base, email, password, study, round, theme] = process.argv.slice(2);
const shots = process.env.TMPDIR || "/tmp";
const pages = {
  recruitment: `/studies/${study}/recruitment`,
  progress: `/rounds/${round}`,
  comments: `/rounds/${round}/themes/${theme}/comments`,
  messages: `/studies/${study}/messages`,
  audit: `/studies/${study}/audit`,
};

async function visit(page, name, width) {
  const resp = await page.goto(`${base}${pages[name]}`);
  if (resp.status() !== 200) fail(`${name} answered ${resp.status()}`);
  const size = (await resp.body()).length;
  if (size >= 300_000) fail(`${name} is ${size} bytes at ${width}px`);
  await checkAccessibility(page, `${name} at ${width}px`);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`${name} scrolls sideways by ${overflow}px at ${width}px`);
  await page.screenshot({ path: `${shots}/large-${name}-${width}.png`, fullPage: false });
  done.push(`${name} ${size} B at ${width}px`);
}

// Submits the filter form the field belongs to and waits for the list it asks for.
async function filter(page, field, value) {
  const input = page.locator(field);
  if ((await input.evaluate(e => e.tagName)) === "SELECT") await input.selectOption(value);
  else await input.fill(value);
  const before = page.url();
  await Promise.all([page.waitForURL(u => u.href !== before),
    input.locator("xpath=ancestor::form").locator("button[type=submit]").click()]);
}

const browser = await launch();
try {
  for (const width of [390, 1280]) {
    const ctx = await browser.newContext({ viewport: { width, height: 844 } });
    const page = await login(ctx, base, email, password);
    for (const name of Object.keys(pages)) await visit(page, name, width);

    // One panellist among thousands, by pseudonym, on the round's progress.
    await page.goto(`${base}${pages.progress}`);
    await filter(page, "#f-q", "L4321");
    const rows = await page.locator("section[aria-labelledby=progress-h] tbody tr").count();
    if (rows !== 1) fail(`searching the progress for L4321 left ${rows} rows`);
    if (!(await page.locator("section[aria-labelledby=progress-h] tbody").innerText()).includes("Stor Panel 4321"))
      fail("the progress search did not find Stor Panel 4321");
    await filter(page, "#f-status", "not_started");
    if (!page.url().includes("status=not_started")) fail(`the status filter went to ${page.url()}`);

    // And among the candidates.
    await page.goto(`${base}${pages.recruitment}`);
    await filter(page, "#f-q", "large4999@");
    const found = await page.locator("#candidates-h ~ * tbody tr, section[aria-labelledby=candidates-h] tbody tr").count();
    if (found !== 1) fail(`searching the candidates for large4999@ left ${found} rows`);

    // Comments not yet cleared, a page at a time.
    await page.goto(`${base}${pages.comments}`);
    await filter(page, "#f-show", "waiting");
    const comments = await page.locator(".comment").count();
    if (comments < 1 || comments > 50) fail(`the waiting comments show ${comments} on a page`);
    done.push(`search and filters at ${width}px`);
    await ctx.close();
  }
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
console.log(JSON.stringify({ ok: true, done }));
