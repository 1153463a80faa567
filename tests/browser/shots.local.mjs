// Local helper (not committed): screenshots of pages at desktop and phone sizes.
import { launch, checkAccessibility } from "./common.mjs";
const base = process.argv[2];
const pages = JSON.parse(process.argv[3]);
const login = process.argv[4] === "login";
const browser = await launch();
for (const [w, h, tag] of [[1366, 768, "desk"], [390, 844, "phone"]]) {
  const ctx = await browser.newContext({ viewport: { width: w, height: h }, locale: "da-DK" });
  const page = await ctx.newPage();
  if (login) {
    await page.goto(base + "/login?lang=da");
    await page.fill("#email", "demo@orakel.example");
    await page.fill("#password", "orakel-demo-2026");
    await page.click("button[type=submit]");
  }
  for (const [name, path] of pages) {
    await page.goto(base + path);
    await page.screenshot({ path: `/tmp/shots/${name}-${tag}.png`, fullPage: true });
    const sw = await page.evaluate(() => document.documentElement.scrollWidth);
    let axe = "ok";
    try { await checkAccessibility(page, name); } catch (e) { axe = String(e); }
    console.log(name, tag, "scrollWidth", sw);
  }
  await ctx.close();
}
await browser.close();
