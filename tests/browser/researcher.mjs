// Drives a researcher's pages in headless Chromium where they ask before acting: opening a round
// and sending invitations ask in a dialog (accessible, cancellable, changing nothing until
// confirmed), the page after says what happened once, a browser without JavaScript gets the
// same question as a page, and what was typed survives a switch of language. Prints one JSON
// line; exits non-zero on failure.
//
//   node tests/browser/researcher.mjs BASE_URL EMAIL PASSWORD STUDY_ID ROUND_ID
import { checkAccessibility, done, fail, launch, login } from "./common.mjs";

const [base, email, password, study, round] = process.argv.slice(2);


const browser = await launch();
try {
  for (const width of [1280, 390]) {
    const ctx = await browser.newContext({ viewport: { width, height: 900 } });
    const cspErrors = [];
    const page = await login(ctx, base, email, password);
    page.on("console", m => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });

    if (width === 1280) {
      // 1. Opening a round asks first; cancelling changes nothing.
      await page.goto(`${base}/rounds/${round}`);
      const open = page.locator("button[name=action][value=open]");
      const question = await open.getAttribute("data-confirm");
      if (!question || !/\d/.test(question)) fail(`the open button carries no question: ${question}`);
      await open.click();
      const dialog = page.locator("dialog.confirm[open]");
      await dialog.waitFor();
      if ((await dialog.locator("p").first().textContent()) !== question) fail("the dialog does not ask the button's question");
      const focused = await page.evaluate(() => document.activeElement.className);
      if (focused !== "secondary") fail(`the dialog's focus is on ${focused}, not on cancelling`);
      await checkAccessibility(page, "the open-round dialog");
      await dialog.locator("button.secondary").click();
      await page.waitForTimeout(300);
      if (await page.locator("dialog.confirm").count()) fail("cancelling left the dialog");
      await page.reload();
      if (!(await page.locator("button[name=action][value=open]").count())) fail("cancelling opened the round");
      done.push("open: asked, cancelled, nothing changed");

      // 2. Confirmed: the round opens and the next page says so, once.
      await page.locator("button[name=action][value=open]").click();
      await Promise.all([page.waitForNavigation(), page.locator("dialog.confirm[open] button:not(.secondary)").click()]);
      const said = page.locator(".flash[role=status]");
      if (!(await said.count())) fail("no message after opening the round");
      if (!/\d/.test(await said.textContent())) fail(`the message does not count the e-mails: ${await said.textContent()}`);
      if (!(await page.locator("button[name=action][value=close]").count())) fail("the round did not open");
      await checkAccessibility(page, "the round page with its message");
      await page.reload();
      if (await page.locator(".flash").count()) fail("the message came back on reload");
      done.push("open: confirmed, said once");

      // 2b. The overview lists who has not finished; a reminder to all asks, then says.
      await page.goto(`${base}/studies/${study}`);
      const waiting = page.locator(".todo-round input[name=candidate_ids]");
      const nWaiting = await waiting.count();
      if (nWaiting < 1) fail("the to-do list names nobody waiting");
      await checkAccessibility(page, "the study's overview with its to-do list");
      await page.locator(".todo-round button[value=all]").click();
      const remind = page.locator("dialog.confirm[open]");
      await remind.waitFor();
      if (!(await remind.locator("p").first().textContent()).includes(String(nWaiting))) fail("the reminder dialog does not count");
      await Promise.all([page.waitForNavigation(), remind.locator("button:not(.secondary)").click()]);
      const reminded = await page.locator(".flash[role=status]").textContent();
      if (!reminded.includes(String(nWaiting))) fail(`the reminder message does not count: ${reminded}`);
      if (!page.url().endsWith("#todo-round-1")) fail(`the page did not come back to the round: ${page.url()}`);
      done.push("to-do: listed, reminded after asking, said");

      // 3. Invitations: the dialog counts the chosen candidates.
      await page.goto(`${base}/studies/${study}/recruitment`);
      const boxes = page.locator("input[name=candidate_ids]");
      const total = await boxes.count();
      if (total < 2) fail(`only ${total} candidates to invite`);
      const chosenText = () => page.locator("output.selected-count").textContent();
      // Select all and none work on the page, and the count follows.
      await page.locator("a[data-select=all]").click();
      if ((await page.locator("input[name=candidate_ids]:checked").count()) !== total) fail("select all missed some");
      if (!(await chosenText()).includes(String(total))) fail(`the count says ${await chosenText()} after select all`);
      if (page.url().includes("select=")) fail("select all reloaded the page");
      await page.locator("a[data-select=none]").click();
      if (await page.locator("input[name=candidate_ids]:checked").count()) fail("select none left some");
      if (!(await chosenText()).startsWith("0")) fail(`the count says ${await chosenText()} after select none`);
      await boxes.nth(0).check();
      await boxes.nth(1).check();
      if (!(await chosenText()).startsWith("2")) fail(`the count says ${await chosenText()} with two chosen`);
      await checkAccessibility(page, "the recruitment page with candidates chosen");
      await page.locator("form.invite button[type=submit]").first().click();
      const invite = page.locator("dialog.confirm[open]");
      await invite.waitFor();
      const text = await invite.locator("p").first().textContent();
      if (!/\b2\b/.test(text) || /\{n\}/.test(text)) fail(`the invitation dialog does not count two: ${text}`);
      const yes = await invite.locator("button:not(.secondary)").textContent();
      if (!/\b2\b/.test(yes)) fail(`the button does not say two: ${yes}`);
      await Promise.all([page.waitForNavigation(), invite.locator("button:not(.secondary)").click()]);
      const sent = await page.locator(".flash[role=status]").textContent();
      if (!/\b2\b/.test(sent)) fail(`the message does not count two invitations: ${sent}`);
      done.push("invite: selected all, none, two; counted, confirmed, said");
    }

    // 3b. Attribute values for several candidates at once; the page says how many were saved
    // and the ones given drop out of the list of those still lacking a value.
    if (width === 1280) {
      await page.goto(`${base}/studies/${study}/strata/values`);
      const rows = page.locator("table.values tbody tr");
      const before = await rows.count();
      if (before < 2) fail(`only ${before} candidates lack values`);
      await checkAccessibility(page, "the attribute values page");
      for (const i of [0, 1]) {
        for (const select of await rows.nth(i).locator("select").all()) {
          await select.selectOption({ index: 1 });
        }
      }
      await Promise.all([page.waitForNavigation(), page.locator("main form button[type=submit]").click()]);
      const saved = await page.locator(".flash[role=status]").textContent();
      if (!/\b2\b/.test(saved)) fail(`the message does not count two candidates: ${saved}`);
      const after = await page.locator("table.values tbody tr").count();
      if (after !== before - 2) fail(`${after} still lack values, expected ${before - 2}`);
      done.push("attribute values: two candidates at once, counted, listed no more");
    } else {
      await page.goto(`${base}/studies/${study}/strata/values?all=1`);
      await checkAccessibility(page, "the attribute values page at 390px");
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      if (wide > 390) fail(`the attribute values page is ${wide}px wide on a phone`);
    }

    if (width === 390) {
      await page.goto(`${base}/studies/${study}`);
      await checkAccessibility(page, "the study's overview at 390px");
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      if (wide > 390) fail(`the overview is ${wide}px wide on a phone`);
    }

    // 4. What was typed stays through a switch of language.
    await page.goto(`${base}/studies/${study}/settings`);
    const langBefore = await page.evaluate(() => document.documentElement.lang);
    await page.locator("input[name=title]").fill("Skrevet, ikke gemt æøå");
    await Promise.all([page.waitForNavigation(), page.locator("form.language-switch button").click()]);
    const langAfter = await page.evaluate(() => document.documentElement.lang);
    if (langAfter === langBefore) fail("the language did not switch");
    const kept = await page.locator("input[name=title]").inputValue();
    if (kept !== "Skrevet, ikke gemt æøå") fail(`the typed title was lost in the switch: ${kept}`);
    await checkAccessibility(page, `the settings page at ${width}px after a switch`);
    // Switch back for the next width.
    await Promise.all([page.waitForNavigation(), page.locator("form.language-switch button").click()]);
    done.push(`typed text kept through a language switch at ${width}px`);
    if (cspErrors.length) fail(`Content-Security-Policy: ${cspErrors.join("; ")}`);
    await ctx.close();
  }

  // 5. A letter previewed as the e-mail, in the frame beside it, without leaving the page.
  {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await login(ctx, base, email, password);
    const cspErrors = [];
    page.on("console", m => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
    await page.goto(`${base}/studies/${study}/letters/round_invitation`);
    const frame = () => page.frame({ name: "mail-preview" });
    // The frame is sandboxed (an origin of its own): read through the browser, not the page.
    await page.frameLocator("iframe[name=mail-preview]").locator("pre").waitFor();
    await checkAccessibility(page, "the letter's page");
    const typed = "Kære {{ name }}\n\nEn prøve, ikke gemt.";
    await page.locator("textarea[name=letter]").fill(typed);
    const here = page.url();
    await page.locator("button[value=preview]").click();
    await page.frameLocator("iframe[name=mail-preview]").locator("pre", { hasText: "En prøve, ikke gemt." })
      .waitFor({ timeout: 10000 }).catch(() => fail("the preview frame did not show the typed letter"));
    if (page.url() !== here) fail("previewing left the letter's page");
    if ((await page.locator("textarea[name=letter]").inputValue()) !== typed.replaceAll("\\n", "\n")) fail("previewing lost the typed text");
    const inFrame = await frame().evaluate(() => ({
      button: [...document.querySelectorAll("a")].some(a => getComputedStyle(a).backgroundColor === "rgb(29, 79, 145)"),
      text: document.querySelector("pre") && document.querySelector("pre").textContent,
    }));
    if (!inFrame.button) fail("the preview does not show the e-mail's own styles (its button)");
    if (!inFrame.text || !inFrame.text.includes("En prøve, ikke gemt.")) fail("the preview has no text part");
    if (cspErrors.length) fail(`Content-Security-Policy: ${cspErrors.join("; ")}`);
    done.push("letter: previewed as the e-mail with its text part, page and typing kept");
    await ctx.close();
  }

  // 6. Without JavaScript the server asks, as a page.
  const ctx = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 } });
  const page = await login(ctx, base, email, password);
  await page.goto(`${base}/rounds/${round}`);
  await Promise.all([page.waitForNavigation(), page.locator("button[name=action][value=close]").click()]);
  if (!(await page.locator("input[name=confirmed]").count())) fail("closing without JavaScript did not ask");
  if (!(await page.locator("main h1").count())) fail("the confirmation page has no heading");
  const cancel = page.locator("main a.button.secondary");
  if (!(await cancel.getAttribute("href")).endsWith(`/rounds/${round}`)) fail("cancel does not lead back to the round");
  // axe needs script: the same page, with its styles, in a scripted context.
  const html = (await page.content()).replace("<head>", `<head><base href="${base}/">`);
  const ctx2 = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page2 = await ctx2.newPage();
  await page2.setContent(html, { waitUntil: "load" });
  await checkAccessibility(page2, "the confirmation page");
  await ctx2.close();
  await Promise.all([page.waitForNavigation(), page.locator("main form button[type=submit]").first().click()]);
  if (!(await page.locator(".flash[role=status]").count())) fail("no message after closing");
  if (await page.locator("button[name=action][value=close]").count()) fail("the round did not close");
  done.push("close without JavaScript: asked as a page, confirmed, said");
  await ctx.close();
  console.log(JSON.stringify({ ok: true, done }));
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
