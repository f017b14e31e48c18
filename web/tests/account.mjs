// Drives the console's account pages in headless Chromium. Mailed links come from the node's
// outbox, which only the caller can read, so each mode is one phase between two mails:
//   node web/tests/account.mjs signup        BASE EMAIL NAME PASSWORD        SCREENSHOT
//   node web/tests/account.mjs verify-bad    BASE VERIFY_LINK EMAIL          SCREENSHOT
//   node web/tests/account.mjs verify-2fa    BASE VERIFY_LINK EMAIL PASSWORD SCREENSHOT
//   node web/tests/account.mjs reset-request BASE EMAIL                      SCREENSHOT
//   node web/tests/account.mjs reset-confirm BASE RESET_LINK EMAIL PASSWORD  SCREENSHOT
// Mailed links name the node's public URL; they are opened on BASE with the same path and
// query. Prints one JSON report as its last line; exits 0 when the scenario passed.
import { createHmac } from "node:crypto";
import { failureShots, launch } from "./lib.mjs";

const args = process.argv.slice(2);
const screenshot = args.pop();
const [mode, base, ...rest] = args;
const LIMIT_MS = 15_000;
/** A screenshot next to the failure shot: `SCREENSHOT` without `.png`, then `-name.png`. */
const shotPath = (name) => `${screenshot.replace(/\.png$/, "")}-${name}.png`;

/** RFC 4648 base32 (no padding, case and spaces ignored) to bytes. */
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.toUpperCase().replace(/[\s=]/g, "")) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits) of time step `step`. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}
const stepNow = () => Math.floor(Date.now() / 1000 / 30);

/** A mailed link opened on this node. */
const onBase = (link) => {
  const u = new URL(link);
  return base + u.pathname + u.search;
};

const text = (page, sel) => page.locator(sel).first().innerText({ timeout: LIMIT_MS });
const waitFor = (page, sel) => page.waitForSelector(sel, { timeout: LIMIT_MS });

async function signIn(page, email, password) {
  await waitFor(page, "form#login");
  await page.fill("form#login input[name=email]", email);
  await page.fill("form#login input[name=password]", password);
  await page.click("form#login button[type=submit]");
}

/** The login form's error after the sign-in attempt that `act` makes. */
async function loginError(page, act) {
  const answered = page.waitForResponse(
    (r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/api/v1/auth/login",
    { timeout: LIMIT_MS },
  );
  await act();
  const res = await answered;
  if (res.ok()) throw new Error("the sign-in was expected to fail");
  // The button is enabled again once the answer is handled (and its error rendered).
  await page.waitForFunction(
    () => !document.querySelector("form#login button[type=submit]")?.disabled && document.querySelector("form#login .error"),
    null,
    { timeout: LIMIT_MS },
  );
  return text(page, "form#login .error");
}

const scenarios = {
  async signup(page, [email, name, password]) {
    const r = {};
    await page.goto(base + "/console/login", { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await page.click('a[href="/console/signup"]');
    await waitFor(page, "form#signup");
    await page.fill("form#signup input[name=email]", email);
    await page.fill("form#signup input[name=display_name]", name);
    // Too short: the server's field error shows next to the field.
    await page.fill("form#signup input[name=password]", "short");
    await page.click("form#signup button[type=submit]");
    r.passwordFieldError = await text(page, '[data-field-error="password"]');
    await page.fill("form#signup input[name=password]", password);
    await page.click("form#signup button[type=submit]");
    r.done = await text(page, "#signup-done");
    await page.click("form#resend button[type=submit]");
    r.resent = await text(page, "#resend-sent");
    // Not verified yet: sign-in says so.
    await page.goto(base + "/console/login", { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    r.unverified = await loginError(page, () => signIn(page, email, password));
    // … and offers a new link right there.
    await page.click("#resend-verification button");
    await page.waitForFunction(() => document.querySelector("#resend-verification [role=status]")?.textContent, null, { timeout: LIMIT_MS });
    r.resentFromSignIn = await text(page, "#resend-verification [role=status]");
    r.ok = true;
    return r;
  },

  /** A link that no longer works is explained, and the page offers a new one. */
  async "verify-bad"(page, [link, email]) {
    const r = {};
    await page.goto(onBase(link), { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await page.waitForSelector("#verified, #verify-error", { timeout: LIMIT_MS });
    if (await page.$("#verified")) throw new Error("the link verified the address");
    r.error = await text(page, "#verify-error");
    await page.fill("form#resend input[name=email]", email);
    await page.click("form#resend button[type=submit]");
    r.resent = await text(page, "#resend-sent");
    r.ok = true;
    return r;
  },

  async "verify-2fa"(page, [link, email, password]) {
    const r = {};
    await page.goto(onBase(link), { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await page.waitForSelector("#verified, #verify-error", { timeout: LIMIT_MS });
    r.verified = await text(page, "#verified, #verify-error");
    if (!(await page.$("#verified"))) throw new Error(`verification failed: ${r.verified}`);
    await page.click("#signin-link");
    r.wrongPassword = await loginError(page, () => signIn(page, email, password + "x"));
    await signIn(page, email, password);
    r.who = await text(page, "#who");

    // A new account is a viewer (the default sign-up policy): the channels page explains
    // what that means and who can change it, instead of a form the server refuses.
    await page.goto(base + "/console/channels", { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await waitFor(page, "#viewer-note #signup-policy");
    r.viewerNote = await text(page, "#viewer-note");
    r.newChannelForm = !!(await page.$("#new-channel"));
    await page.screenshot({ path: shotPath("viewer-channels") });

    // Two-factor setup from the profile page.
    await page.click("#who");
    await waitFor(page, "form#totp-setup");
    await page.fill("form#totp-setup input[name=current_password]", password);
    await page.click("form#totp-setup button[type=submit]");
    await waitFor(page, "#totp-qr svg path");
    const secret = await page.inputValue('input[data-copy="totp-secret"]');
    r.secretLength = secret.length;
    r.qr = await page.evaluate(() => ({
      viewBox: document.querySelector("#totp-qr svg").getAttribute("viewBox"),
      modules: (document.querySelector("#totp-qr svg path").getAttribute("d").match(/M/g) ?? []).length,
    }));
    const enableStep = stepNow();
    await page.fill("form#totp-enable input[name=code]", totp(secret, enableStep));
    await page.click("form#totp-enable button[type=submit]");
    await waitFor(page, '#totp-status[data-enabled="true"]');
    r.totpEnabled = true;

    // A personal access token: shown once, and it works.
    await page.fill("form#token-create input[name=name]", "ci script");
    await page.click("form#token-create button[type=submit]");
    await waitFor(page, 'input[data-copy="new-token"]');
    const token = await page.inputValue('input[data-copy="new-token"]');
    await waitFor(page, 'tr[data-token-name="ci script"]');
    const res = await fetch(base + "/api/v1/me", {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(LIMIT_MS),
    });
    r.tokenMe = { status: res.status, email: (await res.json()).email };
    r.token = token;
    await page.click("#token-created-done");
    await page.reload({ waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await waitFor(page, 'tr[data-token-name="ci script"]');
    r.tokenShownAgain = await page.evaluate((t) => document.documentElement.outerHTML.includes(t), token);
    r.tokenListed = await text(page, 'tr[data-token-name="ci script"]');

    // Sign out, then in: the password alone is not enough.
    await page.click("#logout");
    r.afterPassword = await loginError(page, () => signIn(page, email, password));
    await waitFor(page, "#totp-row input[name=totp_code]");
    r.codeAsked = (await page.$("#who")) === null;
    // A code for a step already used or far away is refused.
    r.wrongCode = await loginError(page, async () => {
      await page.fill("input[name=totp_code]", totp(secret, enableStep - 5));
      await page.click("form#login button[type=submit]");
    });
    // The enabling code's step is spent; the next one is within the accepted skew.
    await page.fill("input[name=password]", password);
    await page.fill("input[name=totp_code]", totp(secret, Math.max(stepNow(), enableStep + 1)));
    await page.click("form#login button[type=submit]");
    r.whoAfter2fa = await text(page, "#who");
    // The new session is real: the profile loads and shows two-factor sign-in on.
    await page.click("#who");
    await waitFor(page, '#totp-status[data-enabled="true"]');
    r.profileAfter2fa = await text(page, "#profile-email");
    r.ok = true;
    return r;
  },

  async "reset-request"(page, [email]) {
    const r = {};
    await page.goto(base + "/console/login", { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await page.click('a[href="/console/reset"]');
    await waitFor(page, "form#reset-request");
    await page.fill("form#reset-request input[name=email]", email);
    await page.click("form#reset-request button[type=submit]");
    r.sent = await text(page, "#reset-sent");
    r.ok = true;
    return r;
  },

  async "reset-confirm"(page, [link, email, password]) {
    const r = {};
    await page.goto(onBase(link), { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await waitFor(page, "form#reset-confirm");
    await page.fill("form#reset-confirm input[name=password]", password);
    await page.fill("form#reset-confirm input[name=password_again]", password + "!");
    await page.click("form#reset-confirm button[type=submit]");
    r.mismatch = await text(page, "form#reset-confirm .error");
    await page.fill("form#reset-confirm input[name=password_again]", password);
    await page.click("form#reset-confirm button[type=submit]");
    r.done = await text(page, "#reset-done");
    await page.click("#signin-link");
    await signIn(page, email, password);
    r.who = await text(page, "#who");
    // The link worked once.
    await page.goto(onBase(link), { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
    await waitFor(page, "form#reset-confirm");
    await page.fill("form#reset-confirm input[name=password]", password + "2");
    await page.fill("form#reset-confirm input[name=password_again]", password + "2");
    await page.click("form#reset-confirm button[type=submit]");
    r.reused = await text(page, "form#reset-confirm .error");
    r.ok = true;
    return r;
  },
};

let result = { ok: false };
const browser = await launch();
const page = await browser.newPage();
page.setDefaultTimeout(LIMIT_MS);
if (process.env.DEBUG) {
  page.on("console", (m) => console.error("console:", m.text()));
  page.on("request", (r) => console.error("request", r.method(), r.url()));
  page.on("framenavigated", (f) => console.error("navigated", f.url()));
}
try {
  const scenario = scenarios[mode];
  if (!scenario) throw new Error(`unknown mode ${mode}`);
  result = await scenario(page, rest);
} catch (e) {
  result = { ok: false, mode, error: String(e), url: page.url() };
}
if (!result.ok) await failureShots(page, base, screenshot);
console.log(JSON.stringify(result));
await browser.close();
process.exit(result.ok ? 0 : 1);
