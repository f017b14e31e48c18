// Shared by the browser scripts: launching Debian's Chromium headless, the JSON report, and
// screenshots of the main console pages when a scenario fails.
import { chromium } from "playwright-core";

export const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"];

export function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: ARGS });
}

/** Signs in on the console's sign-in page. */
export async function signIn(page, base, email, password, limit) {
  await page.goto(base + "/console/login", { waitUntil: "domcontentloaded", timeout: limit });
  await page.fill("#login input[name=email]", email);
  await page.fill("#login input[name=password]", password);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("#who", { timeout: limit });
}

/**
 * After a failure: the page as it is to `shot`, then the main console pages next to it
 * (`shot` without `.png` + `-dashboard.png`, …), so a failure can be looked at.
 */
export async function failureShots(page, base, shot) {
  if (!shot) return;
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  const stem = shot.replace(/\.png$/, "");
  for (const [name, path] of [["dashboard", "/console"], ["channels", "/console/channels"], ["devices", "/console/devices"], ["recordings", "/console/recordings"]]) {
    try {
      await page.goto(base + path, { waitUntil: "domcontentloaded", timeout: 5000 });
      await page.waitForTimeout(1000);
      await page.screenshot({ path: `${stem}-${name}.png`, fullPage: true });
    } catch {
      /* best effort */
    }
  }
}

/** Prints the report as the last line and exits 0 when it says ok. */
export async function finish(browser, result) {
  console.log(JSON.stringify(result));
  await browser.close().catch(() => {});
  process.exit(result.ok ? 0 : 1);
}
