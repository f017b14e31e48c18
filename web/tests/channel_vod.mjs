// A channel's page and the recordings page, in headless Chromium:
//   node web/tests/channel_vod.mjs BASE EMAIL PASSWORD CHANNEL_ID SLUG SCREENSHOT
// The owner of a private channel that is live and recording opens its page: "Connect your
// encoder" names the server and the device's key prefix; the signed-link generator makes a link
// (and embed code) that plays in a logged-out browser; "Disconnect the publisher" ends the
// broadcast. While live, the recordings page lists the recording dated today, with no MP4 to
// download yet. Then the finished recording is listed with thumbnail, duration and size, plays
// in the page, downloads as MP4 named after the channel and date; the channel's retention is saved;
// the recording is deleted. One JSON report on the last line.
import { failureShots, finish, launch, signIn } from "./lib.mjs";

const [base, email, password, channelId, slug, screenshot] = process.argv.slice(2);
const LIMIT = 40_000;

const browser = await launch();
const context = await browser.newContext();
const page = await context.newPage();
const report = { ok: false, step: "sign in" };
try {
  await signIn(page, base, email, password, LIMIT);

  // First, while the (short) broadcast is surely still on.
  report.step = "recording while live";
  await page.goto(`${base}/console/recordings`, { waitUntil: "domcontentloaded", timeout: LIMIT });
  await page.waitForSelector("#recordings tr[data-recording]", { timeout: LIMIT });
  report.whileLive = await page.$eval("#recordings tr[data-recording]", (tr) => {
    const d = tr.querySelector("[data-action=download]");
    return {
      status: tr.querySelector(".badge").textContent,
      date: tr.querySelector("td:nth-child(2) .muted").textContent,
      downloadTag: d.tagName,
      downloadDisabled: d.disabled === true,
    };
  });


  report.step = "channel page";
  await page.goto(`${base}/console/channels/${channelId}`, { waitUntil: "domcontentloaded", timeout: LIMIT });
  await page.waitForSelector("#connect-encoder [data-copy=server]", { timeout: LIMIT });
  report.server = await page.inputValue("#connect-encoder [data-copy=server]");
  report.encoderText = await page.textContent("#connect-encoder");
  await page.waitForSelector("#live-stats", { timeout: LIMIT });
  report.liveHeading = (await page.textContent("#live-stats h3")).trim();

  report.step = "signed link";
  await page.fill("#signed-url input[name=ttl]", "5");
  await page.click("#signed-url button[type=submit]");
  await page.waitForSelector("#signed-result [data-copy=signed-watch]", { timeout: LIMIT });
  const signedWatch = await page.inputValue("#signed-result [data-copy=signed-watch]");
  report.signedWatch = signedWatch;
  report.signedEmbed = await page.inputValue("#signed-result [data-copy=signed-embed]");

  report.step = "signed link plays logged out";
  const stranger = await browser.newContext();
  const watch = await stranger.newPage();
  await watch.goto(signedWatch, { waitUntil: "domcontentloaded", timeout: LIMIT });
  await watch.waitForFunction(() => document.querySelector("video")?.currentTime > 1, null, { timeout: LIMIT });
  report.signedPlays = await watch.evaluate(() => ({ state: window.onair.state, videoWidth: document.querySelector("video").videoWidth }));
  await watch.goto(`${base}/watch/${slug}`, { waitUntil: "domcontentloaded", timeout: LIMIT });
  await watch.waitForFunction(() => window.onair?.state === "unauthorized", null, { timeout: LIMIT });
  report.unsignedState = await watch.evaluate(() => window.onair.state);
  await stranger.close();

  report.step = "disconnect the publisher";
  await page.click("#moderation #kick");
  await page.waitForSelector("#live-state", { timeout: LIMIT });

  report.step = "recording listed";
  await page.goto(`${base}/console/recordings`, { waitUntil: "domcontentloaded", timeout: LIMIT });
  const row = "#recordings tr[data-recording]";
  const deadline = Date.now() + LIMIT;
  for (;;) {
    const status = await page.$eval(`${row} .badge`, (b) => b.textContent).catch(() => null);
    if (status === "complete") break;
    if (Date.now() > deadline) throw new Error(`recording not complete (status ${status})`);
    await page.waitForTimeout(1000);
    await page.reload({ waitUntil: "domcontentloaded" });
  }
  await page.waitForFunction((sel) => {
    const img = document.querySelector(sel + " img.thumb");
    return img && img.complete && img.naturalWidth > 0;
  }, row, { timeout: LIMIT });
  const recordingId = await page.getAttribute(row, "data-recording");
  Object.assign(report, {
    recordingId,
    thumbnailWidth: await page.$eval(`${row} img.thumb`, (i) => i.naturalWidth),
    duration: await page.textContent(`${row} [data-field=duration]`),
    size: await page.textContent(`${row} [data-field=size]`),
    date: await page.textContent(`${row} td:nth-child(2) .muted`),
    // An empty `download` attribute: the browser takes the server's Content-Disposition name.
    downloadAttr: await page.getAttribute(`${row} [data-action=download]`, "download"),
  });

  report.step = "play in the page";
  await page.click(`${row} [data-action=play]`);
  await page.waitForFunction(() => document.querySelector("#vod-player video")?.currentTime > 1, null, { timeout: LIMIT });
  report.vodWidth = await page.$eval("#vod-player video", (v) => v.videoWidth);

  report.step = "download MP4";
  const href = await page.getAttribute(`${row} [data-action=download]`, "href");
  report.download = await page.evaluate(async (u) => {
    const r = await fetch(u);
    const b = new Uint8Array(await r.arrayBuffer());
    return {
      status: r.status,
      type: r.headers.get("content-type"),
      disposition: r.headers.get("content-disposition"),
      bytes: b.length,
      box: String.fromCharCode(...b.slice(4, 8)),
    };
  }, href);

  report.step = "retention";
  await page.selectOption("#recordings-channel", channelId);
  await page.waitForSelector("#retention input[name=retention_days]", { timeout: LIMIT });
  await page.fill("#retention input[name=retention_days]", "7");
  await page.click("#retention button[type=submit]");
  await page.waitForSelector("#retention .ok", { timeout: LIMIT });

  report.step = "delete";
  await page.click(`tr[data-recording="${recordingId}"] [data-action=delete]`);
  await page.click(`tr[data-recording="${recordingId}"] [data-action=delete-confirm]`);
  await page.waitForSelector(`tr[data-recording="${recordingId}"]`, { state: "detached", timeout: LIMIT });
  report.ok = true;
  report.step = "done";
} catch (e) {
  report.error = String(e);
  await failureShots(page, base, screenshot);
}
await finish(browser, report);
