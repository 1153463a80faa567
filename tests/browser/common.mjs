// What the browser scripts share: launching Chromium, the WCAG 2.1 AA check with axe-core, and
// the one JSON line a script prints (with what it did) before it exits.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export const done = [];

export function fail(msg) {
  console.log(JSON.stringify({ ok: false, error: msg, done }));
  process.exit(1);
}

export function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: flags });
}

// Fails on any WCAG 2.1 A/AA violation of the page as it is now. axe is evaluated, not added
// as a script element, so the page's Content-Security-Policy stays in force around it.
export async function checkAccessibility(page, label) {
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  if (result.violations.length) {
    fail(`axe on ${label}: ` + result.violations.map(v => `${v.id} (${v.nodes.length}): ${v.nodes[0].html}`).join("; "));
  }
}

// A new page in `ctx`, logged in as a researcher, on the list of studies.
export async function login(ctx, base, email, password) {
  const page = await ctx.newPage();
  await page.goto(`${base}/login`);
  await page.locator("input[name=email]").fill(email);
  await page.locator("input[name=password]").fill(password);
  await Promise.all([page.waitForURL(/\/studies/), page.locator("form button[type=submit]").last().click()]);
  return page;
}
