// Drives the console in headless Chromium: signs in and waits until the dashboard shows the
// given live channel with its thumbnail loaded.
//   node web/tests/console.mjs BASE_URL EMAIL PASSWORD CHANNEL SCREENSHOT
import { chromium } from "playwright-core";

const [base, email, password, channel, screenshot] = process.argv.slice(2);
const LIMIT_MS = 40_000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage();
let result = { ok: false };
try {
  await page.goto(base + "/", { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  const card = `article.card[data-channel="${channel}"]`;
  await page.waitForSelector(card, { timeout: LIMIT_MS });
  // The thumbnail arrives within ~10 s of going live; the card re-renders every second.
  await page.waitForFunction((sel) => {
    const img = document.querySelector(sel + " img");
    return img && img.complete && img.naturalWidth > 0;
  }, card, { timeout: LIMIT_MS });
  result = await page.evaluate((sel) => ({
    ok: true,
    who: document.getElementById("who").textContent,
    text: document.querySelector(sel).textContent,
    thumbnailWidth: document.querySelector(sel + " img").naturalWidth,
  }), card);
} catch (e) {
  result = { ok: false, error: String(e) };
}
if (!result.ok && screenshot) await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
console.log(JSON.stringify(result));
await browser.close();
process.exit(result.ok ? 0 : 1);
