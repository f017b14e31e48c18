// Drives the console's admin pages in headless Chromium: an admin signs in, creates a user,
// changes its role and disables it (each through the confirm step), searches and filters the
// users; filters the audit log by action (and opens a filtered view by its URL); creates a
// webhook to RECEIVER_URL, disables and enables it, sends a test event and waits for its
// delivery in the log; reads the server page.
//   node web/tests/admin.mjs BASE_URL EMAIL PASSWORD RECEIVER_URL SCREENSHOT
// Prints one JSON report as the last line; exits 0 when every step passed.
import { failureShots, launch } from "./lib.mjs";

const [base, email, password, receiver, screenshot] = process.argv.slice(2);
const WAIT_MS = 15_000;
/** The whole run; the Rust harness gives the script 90 s. */
const LIMIT_MS = 80_000;

let step = "launch";
const result = { ok: false, pageErrors: [] };
let browser;
let page;

async function finish() {
  if (!result.ok && page) await failureShots(page, base, screenshot);
  console.log(JSON.stringify(result));
  await browser?.close().catch(() => {});
  process.exit(result.ok ? 0 : 1);
}

const watchdog = setTimeout(() => {
  result.ok = false;
  result.error = `timed out after ${LIMIT_MS} ms in step ${step}`;
  void finish();
}, LIMIT_MS);

function must(cond, what) {
  if (!cond) throw new Error(`${what}`);
}

/** Attributes of every element matching `sel`. */
const attrs = (sel, names) =>
  page.$$eval(sel, (els, names) => els.map((e) => Object.fromEntries(names.map((n) => [n, e.getAttribute(n)]))), names);

/** Submits the audit filter with `action` and returns its rows once the list shows that filter. */
async function auditByAction(action) {
  await page.fill("#audit-filter input[name=action]", action);
  await page.click("#audit-filter button[type=submit]");
  const q = new URLSearchParams({ action }).toString();
  await page.waitForSelector(`#audit-results[data-query="${q}"]`);
  must(new URL(page.url()).searchParams.get("action") === action, `the URL carries the filter: ${page.url()}`);
  return attrs("#audit tr[data-audit-id]", ["data-action", "data-target-id", "data-actor", "data-result"]);
}

try {
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  page.on("pageerror", (e) => result.pageErrors.push(String(e)));

  step = "sign in";
  await page.goto(base + "/console/login", { waitUntil: "domcontentloaded" });
  await page.fill("#login input[name=email]", email);
  await page.fill("#login input[name=password]", password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#who");

  step = "create a user";
  await page.click('nav.nav a[href="/console/admin/users"]');
  await page.waitForSelector("#users-results");
  const userEmail = `ada.${Date.now()}@example.com`;
  result.userEmail = userEmail;
  await page.click("#user-create-panel > summary");
  await page.fill("#user-create input[name=email]", userEmail);
  await page.fill("#user-create input[name=display_name]", "Ada Lovelace");
  await page.fill("#user-create input[name=password]", "analytical engine 1843");
  must((await page.inputValue("#user-create select[name=role]")) === "viewer", "new users are viewers unless chosen otherwise");
  await page.click("#user-create button[type=submit]");
  await page.waitForSelector("#user-created");
  result.userId = await page.getAttribute("#user-created", "data-user-id");
  const row = `tbody[data-user-id="${result.userId}"]`;
  await page.waitForSelector(`${row}[data-role=viewer][data-status=active]`);

  step = "change the role";
  await page.selectOption(`${row} select[name=role]`, "broadcaster");
  await page.waitForSelector(`${row} [data-confirm=role]`);
  // Nothing changes before the confirmation.
  must((await page.getAttribute(row, "data-role")) === "viewer", "the role changed before confirming");
  await page.click(`${row} [data-confirm=role] button[data-action=confirm]`);
  await page.waitForSelector(`${row}[data-role=broadcaster]`);
  result.roleAfter = await page.getAttribute(row, "data-role");

  step = "disable the user";
  await page.click(`${row} button[data-action=disable]`);
  await page.waitForSelector(`${row} [data-confirm=disable]`);
  // Cancel first: the user stays active.
  await page.click(`${row} [data-confirm=disable] button[data-action=cancel]`);
  await page.waitForSelector(`${row} [data-confirm=disable]`, { state: "detached" });
  must((await page.getAttribute(row, "data-status")) === "active", "cancel disabled the user");
  await page.click(`${row} button[data-action=disable]`);
  await page.click(`${row} [data-confirm=disable] button[data-action=confirm]`);
  await page.waitForSelector(`${row}[data-status=disabled]`);
  result.statusAfter = await page.getAttribute(row, "data-status");

  step = "search users";
  await page.fill("#user-filter input[name=q]", userEmail);
  await page.click("#user-filter button[type=submit]");
  await page.waitForSelector(`#users-results[data-query="${new URLSearchParams({ q: userEmail })}"]`);
  result.searchRows = (await attrs("#users tbody[data-user-id]", ["data-email"])).map((r) => r["data-email"]);
  must(result.searchRows.length === 1 && result.searchRows[0] === userEmail, `search finds only the user: ${result.searchRows}`);
  await page.fill("#user-filter input[name=q]", "");
  await page.selectOption("#user-filter select[name=status]", "disabled");
  await page.click("#user-filter button[type=submit]");
  await page.waitForSelector(`#users-results[data-query="status=disabled"]`);
  must((await page.inputValue("#user-filter select[name=status]")) === "disabled", "the filter form shows the filter");
  const disabled = await attrs("#users tbody[data-user-id]", ["data-email", "data-status"]);
  result.disabledRows = disabled.length;
  must(disabled.length >= 1 && disabled.every((r) => r["data-status"] === "disabled"), "the status filter shows disabled users only");
  must(disabled.some((r) => r["data-email"] === userEmail), "the disabled user is listed as disabled");
  must(!disabled.some((r) => r["data-email"] === email), "the active admin is filtered out");

  step = "audit log";
  await page.click('nav.nav a[href="/console/admin/audit"]');
  await page.waitForSelector('#audit-results[data-query=""]');
  const all = await attrs("#audit tr[data-audit-id]", ["data-action"]);
  result.auditActionsUnfiltered = [...new Set(all.map((r) => r["data-action"]))].sort();
  must(result.auditActionsUnfiltered.length > 3, `the unfiltered log has several actions: ${result.auditActionsUnfiltered}`);
  result.audit = {};
  for (const action of ["user.create", "user.role_change", "user.disable"]) {
    const rows = await auditByAction(action);
    must(rows.length > 0 && rows.every((r) => r["data-action"] === action), `only ${action} entries: ${JSON.stringify(rows)}`);
    const mine = rows.filter((r) => r["data-target-id"] === result.userId);
    must(mine.length === 1, `one ${action} entry for the new user: ${JSON.stringify(rows)}`);
    must(mine[0]["data-actor"] === email && mine[0]["data-result"] === "ok", `${action} by the admin: ${JSON.stringify(mine)}`);
    result.audit[action] = rows.length;
  }
  // A filtered view is a link: load it afresh.
  const linked = new URLSearchParams({ action: "user.role_change", target_id: result.userId }).toString();
  await page.goto(`${base}/console/admin/audit?${linked}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(`#audit-results[data-query="${linked}"]`);
  must((await page.inputValue("#audit-filter input[name=action]")) === "user.role_change", "the linked filter fills the form");
  const linkedRows = await attrs("#audit tr[data-audit-id]", ["data-action", "data-target-id"]);
  result.linkedRows = linkedRows.length;
  must(linkedRows.length === 1 && linkedRows[0]["data-target-id"] === result.userId, `the linked view: ${JSON.stringify(linkedRows)}`);
  // The target by name, not a raw id.
  result.auditTargetText = (await page.textContent("#audit tr[data-audit-id] [data-field=target]")).trim();
  // A time range ending before the user existed shows none of its entries.
  const before = new URLSearchParams({ target_id: result.userId, until: "1000" }).toString();
  await page.goto(`${base}/console/admin/audit?${before}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(`#audit-results[data-query="${before}"] #audit-empty`);

  step = "create a webhook";
  await page.click('nav.nav a[href="/console/admin/webhooks"]');
  await page.waitForSelector("#webhook-create");
  await page.fill("#webhook-create input[name=url]", receiver);
  await page.click("#webhook-create button[type=submit]");
  await page.waitForSelector("#webhook-secret");
  result.webhookId = await page.getAttribute("#webhook-secret", "data-webhook-id");
  const secret = await page.inputValue('[data-copy="webhook-secret"]');
  must(secret.startsWith("whsec_") && secret.length > 40, `the signing secret is shown: ${secret}`);
  // A throwaway node's secret: the harness checks the receiver's signatures with it.
  result.secret = secret;
  const hookRow = `tbody[data-webhook-id="${result.webhookId}"]`;
  await page.waitForSelector(`${hookRow}[data-enabled=true]`);
  must((await page.getAttribute(hookRow, "data-url")) === receiver, "the row shows the receiver URL");

  step = "webhook page";
  await page.click(`${hookRow} td.url a`);
  await page.waitForSelector(`#webhook[data-webhook-id="${result.webhookId}"]`);
  await page.waitForSelector("#deliveries-empty");
  await page.click("#webhook-toggle");
  await page.waitForSelector("#webhook[data-enabled=false]");
  await page.click("#webhook-toggle");
  await page.waitForSelector("#webhook[data-enabled=true]");

  step = "send a test event";
  await page.click("#webhook-test");
  await page.waitForSelector("#webhook-test-sent");
  result.eventId = await page.getAttribute("#webhook-test-sent", "data-event-id");
  const delivered = `#deliveries tr[data-event-id="${result.eventId}"]:not([data-status=""])`;
  await page.waitForSelector(delivered, { timeout: 20_000 });
  result.deliveryStatus = Number(await page.getAttribute(delivered, "data-status"));
  result.deliverySucceeded = (await page.getAttribute(delivered, "data-succeeded")) === "true";
  result.deliveryTest = await page.getAttribute(delivered, "data-test");
  result.deliveryEventText = (await page.textContent(`${delivered} td:nth-child(2)`)).trim();

  step = "server page";
  await page.click('nav.nav a[href="/console/admin/node"]');
  await page.waitForSelector("#node-status dd[data-field=database]");
  await page.waitForSelector("#node-info dd[data-field=rtmp_url]");
  const fact = (sel) => page.textContent(sel).then((t) => t.trim());
  result.database = await fact("#node-status dd[data-field=database]");
  result.storage = await fact("#node-status dd[data-field=storage]");
  result.version = await fact("#node-status dd[data-field=version]");
  result.rtmpUrl = await fact("#node-info dd[data-field=rtmp_url]");
  // It refreshes by itself.
  const at = await page.getAttribute("#node-updated", "data-at");
  await page.waitForFunction((at) => document.getElementById("node-updated")?.dataset.at !== at, at, { timeout: 10_000 });

  step = "done";
  result.ok = result.pageErrors.length === 0;
  if (!result.ok) result.error = "uncaught errors in the page";
} catch (e) {
  result.ok = false;
  result.error = `${step}: ${e}`;
}
clearTimeout(watchdog);
await finish();
