// The broadcaster's whole path through the console, in headless Chromium:
//   node web/tests/scenario.mjs BASE EMAIL PASSWORD FIXTURE SCREENSHOT
// A new admin signs in, creates a public channel, registers a device and copies its stream key
// with the Copy button; ffmpeg publishes FIXTURE to the Server URL and key the page shows; the
// dashboard shows the channel live with its thumbnail and a growing chart; /watch/{channel}
// plays in low-latency mode; "Rotate key" asks first (cancel keeps the key and the broadcast;
// "disconnect" starts unticked); rotating with "disconnect" ticked kicks the publisher, and
// both the device page and the player show it offline. One JSON report on the last line.
import { spawn } from "node:child_process";
import { failureShots, finish, launch, signIn } from "./lib.mjs";

const [base, email, password, fixture, screenshot] = process.argv.slice(2);
const LIMIT = 40_000;
const CHANNEL = "studio";

const browser = await launch();
const context = await browser.newContext();
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
const page = await context.newPage();
const report = { ok: false, step: "sign in" };
let ffmpeg = null;
let ffmpegExit = null;
try {
  await signIn(page, base, email, password, LIMIT);
  report.who = await page.textContent("#who");

  report.step = "create channel";
  await page.click("nav a[href='/console/channels']");
  await page.fill("#new-channel input[name=slug]", CHANNEL);
  await page.fill("#new-channel input[name=title]", "Studio");
  await page.selectOption("#new-channel select[name=visibility]", "public");
  await page.click("#new-channel button[type=submit]");
  await page.waitForURL(/\/console\/channels\/[^/]+$/, { timeout: LIMIT });
  report.channelPage = new URL(page.url()).pathname;
  await page.waitForSelector("#connect-encoder", { timeout: LIMIT });

  report.step = "register device";
  await page.click("nav a[href='/console/devices']");
  await page.fill("#new-device input[name=name]", "Studio OBS");
  await page.selectOption("#new-device select[name=kind]", "obs");
  if (await page.$("#new-device select[name=channel_id]")) {
    await page.selectOption("#new-device select[name=channel_id]", { label: "Studio" });
  }
  await page.click("#new-device button[type=submit]");
  await page.waitForSelector("#new-key [data-copy=stream-key]", { timeout: LIMIT });
  const server = await page.inputValue("#new-key [data-copy=server]");
  const shownKey = await page.inputValue("#new-key [data-copy=stream-key]");
  await page.click("#new-key button[aria-label='Copy Stream key']");
  const key = await page.evaluate(() => navigator.clipboard.readText());
  report.server = server;
  report.keyCopied = key === shownKey && key.length > 0;
  report.ffmpegLine = await page.inputValue("#new-key [data-copy=ffmpeg]");
  const deviceId = await page.getAttribute("#new-key", "data-device");
  await page.waitForSelector(`#devices tr[data-device="${deviceId}"]`, { timeout: LIMIT });

  report.step = "publish";
  ffmpeg = spawn("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1", "-i", fixture, "-c", "copy", "-f", "flv", `${server}/${key}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let ffmpegErr = "";
  ffmpeg.stderr.on("data", (d) => (ffmpegErr = (ffmpegErr + d).slice(-2000)));
  ffmpeg.on("exit", (code, signal) => (ffmpegExit = { code, signal, at: Date.now(), stderr: ffmpegErr }));

  report.step = "dashboard live with thumbnail";
  await page.click("nav a[href='/console']");
  const card = `article.card[data-channel="${CHANNEL}"]`;
  await page.waitForSelector(card, { timeout: LIMIT });
  await page.waitForFunction(
    (sel) => {
      const img = document.querySelector(sel + " img");
      const chart = document.querySelector(sel + " .stats-chart");
      return img && img.complete && img.naturalWidth > 0 && chart && Number(chart.dataset.samples) >= 3;
    },
    card,
    { timeout: LIMIT },
  );
  Object.assign(
    report,
    await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      return {
        cardText: el.querySelector(".meta").textContent,
        badge: el.querySelector(".badge").textContent,
        thumbnailWidth: el.querySelector("img").naturalWidth,
        chartSamples: Number(el.querySelector(".stats-chart").dataset.samples),
        chartBitrate: el.querySelector("[data-series=bitrate]").textContent,
      };
    }, card),
  );

  report.step = "watch";
  const watch = await context.newPage();
  await watch.goto(`${base}/watch/${CHANNEL}`, { waitUntil: "domcontentloaded", timeout: LIMIT });
  await watch.waitForFunction(() => document.querySelector("video")?.currentTime > 0.5, null, { timeout: LIMIT });
  const t0 = await watch.evaluate(() => document.querySelector("video").currentTime);
  // Let hls.js settle on the live edge (it starts a little behind and catches up).
  await watch.waitForFunction((t) => document.querySelector("video").currentTime > t + 4, t0, { timeout: LIMIT });
  // hls.js in low-latency mode moves to its target latency (about three parts) by itself.
  await watch.waitForFunction(() => window.onair?.hls?.latency < 3, null, { timeout: 15_000 }).catch(() => {});
  report.watch = await watch.evaluate(() => {
    const v = document.querySelector("video");
    const o = window.onair;
    return { state: o.state, currentTime: v.currentTime, videoWidth: v.videoWidth, videoHeight: v.videoHeight, lowLatencyMode: o.hls?.lowLatencyMode ?? null, latency: o.hls?.latency ?? null };
  });

  report.step = "device page live status";
  await page.goto(`${base}/console/devices/${deviceId}`, { waitUntil: "domcontentloaded", timeout: LIMIT });
  await page.waitForSelector("#device-status[data-online=true] [data-field=resolution]", { timeout: LIMIT });
  report.deviceStatus = await page.textContent("#device-status");

  report.step = "rotate key";
  // One click only asks (issue #12); cancelling rotates nothing; "disconnect" starts unticked.
  await page.click("#rotate-start");
  await page.waitForSelector("#rotate", { timeout: LIMIT });
  report.rotateConfirm = {
    text: await page.textContent("#rotate"),
    kickChecked: await page.isChecked("#rotate input[name=kick]"),
  };
  await page.screenshot({ path: screenshot.replace(/\.png$/, "") + "-rotate-confirm.png" });
  await page.click("#rotate-cancel");
  await page.waitForSelector("#rotate-start", { timeout: LIMIT });
  report.onlineAfterCancel = await page.getAttribute("#device-status", "data-online");
  const rotatedAt = Date.now();
  await page.click("#rotate-start");
  await page.check("#rotate input[name=kick]");
  await page.click("#rotate-confirm");
  await page.waitForSelector("#new-key [data-copy=stream-key]", { timeout: LIMIT });
  report.newKeyDiffers = (await page.inputValue("#new-key [data-copy=stream-key]")) !== key;
  await page.waitForSelector("#device-status[data-online=false]", { timeout: LIMIT });
  const start = Date.now();
  while (!ffmpegExit && Date.now() - start < 15_000) await new Promise((r) => setTimeout(r, 200));
  report.publisherKicked = !!ffmpegExit && ffmpegExit.at >= rotatedAt;
  await watch.waitForFunction(() => window.onair?.state === "offline", null, { timeout: LIMIT });
  report.watchAfterRotate = await watch.evaluate(() => ({ state: window.onair.state, status: document.getElementById("status").textContent }));
  report.ok = true;
  report.step = "done";
} catch (e) {
  report.error = String(e);
  await failureShots(page, base, screenshot);
} finally {
  if (ffmpeg && !ffmpegExit) ffmpeg.kill("SIGKILL");
}
await finish(browser, report);
