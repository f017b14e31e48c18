// Every main console page at desktop (1280×800) and phone (390×844) sizes, in headless Chromium:
//   node web/tests/pages.mjs BASE EMAIL PASSWORD CHANNEL_ID DEVICE_ID WEBHOOK_ID SCREENSHOT
// For each page and size: a full-page screenshot (SCREENSHOT without `.png` + `-PAGE-SIZE.png`),
// whether the page is wider than the window (sideways scrolling), and whether its first action
// control lies inside the window. Then the channels list: paging (newest first), search, and the
// slug field's browser-side check (its pattern must compile in Chromium, which uses the `v`
// flag). One JSON report on the last line.
import { failureShots, finish, launch, signIn } from "./lib.mjs";

const [base, email, password, channelId, deviceId, webhookId, screenshot] = process.argv.slice(2);
const LIMIT = 20_000;
const stem = screenshot.replace(/\.png$/, "");

/** name, path, a selector the loaded page has, the action control that must be reachable. */
const PAGES = [
  ["dashboard", "/console", "#streams, #empty", null],
  ["channels", "/console/channels", "#channels tr[data-channel]", "#channels tr[data-channel] a"],
  ["channel", `/console/channels/${channelId}`, "#connect-encoder", "#delete"],
  ["devices", "/console/devices", "#devices", "#devices a"],
  ["device", `/console/devices/${deviceId}`, "#device-actions", "#rotate-start"],
  ["recordings", "/console/recordings", "#recordings tr[data-recording]", "#recordings [data-action=delete]"],
  ["users", "/console/admin/users", "#users tbody[data-user-id]", "#users [data-action=password]"],
  ["audit", "/console/admin/audit", "#audit tr[data-audit-id]", "#audit tr[data-audit-id] [data-field=target] a"],
  ["webhooks", "/console/admin/webhooks", "#webhooks tbody[data-webhook-id]", "#webhooks [data-action=delete]"],
  ["webhook", `/console/admin/webhooks/${webhookId}`, "#deliveries tr[data-delivery-id]", "#webhook-test"],
  ["server", "/console/admin/node", "#node-status dd[data-field=database]", "#node-refresh"],
  ["profile", "/console/profile", "#profile-details", "#password-change button[type=submit]"],
];
const SIZES = [
  ["desktop", { width: 1280, height: 800 }],
  ["phone", { width: 390, height: 844 }],
];

const browser = await launch();
const page = await browser.newPage({ viewport: SIZES[0][1] });
const consoleErrors = [];
page.on("console", (m) => {
  if (m.type() === "error" || m.type() === "warning") consoleErrors.push(m.text());
});
const report = { ok: false, step: "sign in", pages: {} };
try {
  await signIn(page, base, email, password, LIMIT);
  for (const [size, viewport] of SIZES) {
    await page.setViewportSize(viewport);
    for (const [name, path, ready, action] of PAGES) {
      report.step = `${name} at ${size}`;
      await page.goto(base + path, { waitUntil: "domcontentloaded", timeout: LIMIT });
      await page.waitForSelector(ready, { timeout: LIMIT });
      await page.waitForTimeout(300);
      const r = await page.evaluate((action) => {
        const el = action ? document.querySelector(action) : null;
        const box = el?.getBoundingClientRect();
        return {
          overflow: document.documentElement.scrollWidth > window.innerWidth,
          scrollWidth: document.documentElement.scrollWidth,
          // Inside the window horizontally, with no scrolling sideways.
          actionInside: action ? !!box && box.width > 0 && box.left >= 0 && box.right <= window.innerWidth : null,
        };
      }, action);
      report.pages[`${name}-${size}`] = r;
      await page.screenshot({ path: `${stem}-${name}-${size}.png`, fullPage: true });
    }
  }

  await page.setViewportSize(SIZES[0][1]);
  report.step = "channels: paging";
  await page.goto(base + "/console/channels", { waitUntil: "domcontentloaded", timeout: LIMIT });
  await page.waitForSelector("#channels tr[data-channel]", { timeout: LIMIT });
  const slugs = () => page.$$eval("#channels tr[data-channel]", (rows) => rows.map((r) => r.dataset.channel));
  const first = await slugs();
  report.firstPage = { count: first.length, first: first[0] };
  await page.click("[data-pager=channels] [data-page=next]");
  await page.waitForSelector('#channels-results[data-query="offset=50"]', { timeout: LIMIT });
  const second = await slugs();
  report.secondPage = { count: second.length, last: second[second.length - 1] };

  report.step = "channels: search";
  await page.fill("#channel-search input[name=q]", "Number 7");
  await page.click("#channel-search button[type=submit]");
  await page.waitForSelector('#channels-results[data-query="q=Number+7"]', { timeout: LIMIT });
  report.search = await slugs();
  await page.fill("#channel-search input[name=q]", "no such thing");
  await page.click("#channel-search button[type=submit]");
  await page.waitForSelector("#channels-empty", { timeout: LIMIT });
  report.searchEmpty = await page.textContent("#channels-empty");

  report.step = "channels: slug check in the browser";
  const slugValidity = (v) =>
    page.$eval(
      "#new-channel input[name=slug]",
      (el, v) => {
        el.value = v;
        return { valid: el.checkValidity(), patternMismatch: el.validity.patternMismatch };
      },
      v,
    );
  report.slugValid = await slugValidity("Good_Name-1");
  report.slugInvalid = await slugValidity("bad name!");
  report.slugRule = await page.textContent("#new-channel label");
  report.patternErrors = consoleErrors.filter((t) => /pattern/i.test(t));
  report.ok = true;
  report.step = "done";
} catch (e) {
  report.error = String(e);
  await failureShots(page, base, screenshot);
}
await finish(browser, report);
