// A broadcaster's dashboard in headless Chromium, at desktop and phone sizes:
//   node web/tests/dashboard.mjs BASE EMAIL PASSWORD OWN_CHANNEL OTHER_CHANNEL WARNED_CHANNEL SCREENSHOT
// Dark or light as the system prefers. Their own live channel is a card with its health chart
// and a title that opens the channel's
// console page; another user's live channel is only listed, with a link to the player; an own
// channel whose keyframes are further apart than its segments shows a warning; the channel page
// plays a preview of the stream. Saves
// SCREENSHOT without `.png` + `-desktop.png` / `-phone.png` / `-phone-light.png` either way. One JSON report.
import { failureShots, finish, launch, signIn } from "./lib.mjs";

const [base, email, password, own, other, warned, screenshot] = process.argv.slice(2);
const LIMIT = 40_000;
const stem = screenshot.replace(/\.png$/, "");

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const report = { ok: false, step: "sign in" };
try {
  await signIn(page, base, email, password, LIMIT);
  report.step = "own stream card";
  const card = `article.card[data-channel="${own}"]`;
  await page.waitForSelector(`${card} .stats-chart`, { timeout: LIMIT });
  report.ownTitle = await page.textContent(`${card} a.title`);
  report.ownTitleHref = await page.getAttribute(`${card} a.title`, "href");
  report.step = "other stream listed";
  await page.waitForSelector(`#others li[data-channel="${other}"] a`, { timeout: LIMIT });
  report.otherHref = await page.getAttribute(`#others li[data-channel="${other}"] a`, "href");
  report.otherHasCard = (await page.$(`article.card[data-channel="${other}"]`)) !== null;
  report.step = "health warning";
  const warnedList = `article.card[data-channel="${warned}"] ul.warnings`;
  await page.waitForSelector(warnedList, { timeout: LIMIT });
  report.warnings = await page.getAttribute(warnedList, "data-warnings");
  report.warningText = await page.textContent(warnedList);
  report.ownWarnings = (await page.$(`${card} ul.warnings`)) !== null;
  await page.screenshot({ path: `${stem}-desktop.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  report.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await page.screenshot({ path: `${stem}-phone.png`, fullPage: true });
  // The system's light preference is followed.
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: "dark" });
  report.darkBackground = await background();
  await page.emulateMedia({ colorScheme: "light" });
  report.lightBackground = await background();
  await page.screenshot({ path: `${stem}-phone-light.png`, fullPage: true });
  report.step = "open the channel page from the title";
  await page.click(`${card} a.title`);
  await page.waitForURL(/\/console\/channels\/[^/]+$/, { timeout: LIMIT });
  report.channelPage = new URL(page.url()).pathname;
  report.step = "preview on the channel page";
  await page.waitForFunction(() => document.querySelector("#preview video")?.currentTime > 0.5, null, { timeout: LIMIT });
  report.previewWidth = await page.$eval("#preview video", (v) => v.videoWidth);
  report.channelPhoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  await page.screenshot({ path: `${stem}-channel-phone-light.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${stem}-channel-desktop.png`, fullPage: true });
  report.ok = true;
} catch (e) {
  report.error = String(e);
  await failureShots(page, base, screenshot);
}
await finish(browser, report);
