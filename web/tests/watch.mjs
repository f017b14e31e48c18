// Drives the OnAir player in real headless Chromium (Debian's, via playwright-core).
//   node web/tests/watch.mjs URL MODE SCREENSHOT
// MODE "play": waits until the video plays (currentTime advances by 2 s) and the statistics
// show, and reports what hls.js, the <video> element and the page say. MODE "state:NAME": waits until the page reports that
// state (offline, nochannel, unauthorized, expired). Prints one JSON line; exits 1 (after a screenshot)
// when the expectation is not met within the time limit.
import { chromium } from "playwright-core";

const [url, mode, screenshot] = process.argv.slice(2);
const LIMIT_MS = 40_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"],
});
let result = { ok: false };
const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone
try {
  await page.goto(url, { waitUntil: "domcontentloaded", timeout: LIMIT_MS });
  if (mode === "play") {
    await page.waitForFunction(() => {
      const v = document.querySelector("video");
      return v && v.currentTime > 0.5;
    }, null, { timeout: LIMIT_MS });
    const start = await page.evaluate(() => document.querySelector("video").currentTime);
    await page.waitForFunction((t0) => document.querySelector("video").currentTime > t0 + 2, start, { timeout: LIMIT_MS });
    await page.waitForFunction(() => !document.getElementById("stats").hidden, null, { timeout: LIMIT_MS });
    await page.waitForTimeout(1000);
    result = await page.evaluate(() => {
      const v = document.querySelector("video");
      const o = window.onair;
      return {
        ok: true,
        state: o.state,
        currentTime: v.currentTime,
        videoWidth: v.videoWidth,
        videoHeight: v.videoHeight,
        lowLatencyMode: o.hls ? o.hls.lowLatencyMode : null,
        latency: o.hls ? o.hls.latency : null,
        status: document.getElementById("status").textContent,
        title: document.title,
        heading: document.getElementById("title").textContent,
        viewers: document.getElementById("viewers").hidden ? null : document.getElementById("viewers").textContent,
        stats: document.getElementById("stats").hidden ? null : document.getElementById("stats").textContent,
      };
    });
  } else if (mode.startsWith("state:")) {
    const want = mode.slice("state:".length);
    await page.waitForFunction((w) => window.onair && window.onair.state === w, want, { timeout: LIMIT_MS });
    result = await page.evaluate(() => ({
      ok: true,
      state: window.onair.state,
      status: document.getElementById("status").textContent,
      statusClass: document.getElementById("status").className,
      title: document.title,
    }));
  }
} catch (e) {
  result = { ok: false, error: String(e), state: await page.evaluate(() => window.onair?.state).catch(() => null) };
}
if (!result.ok && screenshot) {
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
}
console.log(JSON.stringify(result));
await browser.close();
process.exit(result.ok ? 0 : 1);
