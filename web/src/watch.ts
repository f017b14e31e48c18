// The OnAir player: `/watch/{channel}` (and `/embed/{channel}` for iframes). Plays the
// channel's LL-HLS stream with hls.js in low-latency mode, shows live latency, resolution and
// bit rate, offers a quality menu when there are several renditions, and explains clearly when
// the channel is offline, the viewer is not authorized, or a signed link has expired.
import Hls from "hls.js";

type State = "connecting" | "playing" | "offline" | "nochannel" | "unauthorized" | "expired" | "error";

const video = document.getElementById("video") as HTMLVideoElement;
const statusEl = document.getElementById("status") as HTMLElement;
const statsEl = document.getElementById("stats") as HTMLElement;
const quality = document.getElementById("quality") as HTMLSelectElement;
const titleEl = document.getElementById("title") as HTMLElement;
const viewersEl = document.getElementById("viewers") as HTMLElement;

const parts = location.pathname.split("/").filter(Boolean);
const embed = parts[0] === "embed";
const channel = decodeURIComponent(parts[1] ?? "");
if (embed) document.body.classList.add("embed");
// A signed link's `token` / `auth_key` travels with every request (the playlists carry it on).
const query = location.search;
const source = `/live/${encodeURIComponent(channel)}/index.m3u8${query}`;

const onair: { state: State; hls: Hls | null; detail: string } = { state: "connecting", hls: null, detail: "" };
(window as unknown as { onair: typeof onair }).onair = onair;

/** Problem type of a request for a channel that does not exist (the origin's 404). */
const NO_SUCH_CHANNEL = "https://onair.invalid/problems/no-such-channel";

function show(state: State, text: string) {
  onair.state = state;
  statusEl.textContent = text;
  statusEl.classList.toggle("offline", state === "offline");
  statusEl.classList.toggle("error", !["playing", "connecting", "offline"].includes(state));
  // The statistics appear once they have values (see the interval below).
  if (state !== "playing") statsEl.hidden = true;
}

/** The channel's title and audience, from the public list of live streams (when listed). */
async function describe() {
  let title = channel;
  let viewers: number | null = null;
  try {
    const res = await fetch("/api/v1/streams", { credentials: "same-origin", cache: "no-store" });
    if (res.ok) {
      const list: { streams: { channel: string; title?: string | null; viewers: { hls: number; llhls: number; flv: number } }[] } = await res.json();
      const s = list.streams.find((x) => x.channel === channel);
      if (s) {
        title = s.title || channel;
        viewers = s.viewers.hls + s.viewers.llhls + s.viewers.flv;
      }
    }
  } catch {
    /* the title stays the channel's name */
  }
  titleEl.textContent = title;
  document.title = `${title} · OnAir`;
  viewersEl.hidden = viewers === null;
  if (viewers !== null) viewersEl.textContent = `${viewers} watching`;
}

/** Asks the origin what it thinks of this viewer and channel before starting hls.js. */
async function probe(): Promise<"ok" | "retry" | "stop"> {
  let res: Response;
  try {
    res = await fetch(source, { credentials: "same-origin", cache: "no-store" });
  } catch {
    show("error", "The server cannot be reached. Retrying…");
    return "retry";
  }
  if (res.ok) {
    // An ended broadcast is still served for a while, its media playlist closed with
    // EXT-X-ENDLIST: that is "offline" for a live player, not something to play again.
    if (await ended(await res.text())) {
      show("offline", `${channel} is offline: the broadcast has ended. This page will start playing when it goes live again.`);
      return "retry";
    }
    return "ok";
  }
  let detail = "";
  let kind = "";
  try {
    const problem = await res.json();
    detail = problem.detail ?? "";
    kind = problem.type ?? "";
  } catch {
    /* not problem+json */
  }
  onair.detail = detail;
  if (res.status === 404 && kind === NO_SUCH_CHANNEL) {
    show("nochannel", `There is no channel “${channel}” here. Check the address you were given.`);
    return "stop";
  }
  if (res.status === 404) {
    show("offline", `${channel} is offline. This page will start playing when it goes live.`);
    return "retry";
  }
  if (res.status === 503) {
    show("connecting", "The stream is starting…");
    return "retry";
  }
  if (res.status === 401) {
    show("unauthorized", "You are not authorized to watch this channel. Sign in, or use the link you were given.");
    return "stop";
  }
  if (res.status === 403) {
    if (/expired/i.test(detail)) {
      show("expired", "This link has expired. Ask for a new one.");
    } else {
      show("unauthorized", "You are not authorized to watch this channel.");
    }
    return "stop";
  }
  show("error", `The stream cannot be played (${res.status}). Retrying…`);
  return "retry";
}

/** Whether the first media playlist of `multivariant` has ended (EXT-X-ENDLIST). */
async function ended(multivariant: string): Promise<boolean> {
  const uri = multivariant.split("\n").map((l) => l.trim()).find((l) => l && !l.startsWith("#"));
  if (!uri) return false;
  try {
    const res = await fetch(new URL(uri, new URL(source, location.href)), { credentials: "same-origin", cache: "no-store" });
    return res.ok && (await res.text()).includes("#EXT-X-ENDLIST");
  } catch {
    return false;
  }
}

function fmtBitrate(bps: number): string {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

function startHls() {
  if (!Hls.isSupported()) {
    if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = source; // Safari plays LL-HLS natively
      show("playing", "Live");
      return;
    }
    show("error", "This browser cannot play HLS.");
    return;
  }
  const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30, liveSyncDurationCount: 2 });
  onair.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    quality.replaceChildren(new Option("Auto", "-1"));
    hls.levels.forEach((l, i) => quality.append(new Option(`${l.height || "?"}p · ${fmtBitrate(l.bitrate)}`, String(i))));
    quality.disabled = hls.levels.length < 2;
    video.play().catch(() => { /* autoplay may need a click */ });
  });
  hls.on(Hls.Events.FRAG_BUFFERED, () => {
    if (onair.state !== "playing") show("playing", "Live");
  });
  hls.on(Hls.Events.LEVEL_UPDATED, (_e, data) => {
    // The publisher stopped and the stream ended: say so and wait for the next broadcast.
    if (!data.details.live) stopAndProbe();
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    if (!data.fatal) return;
    stopAndProbe(); // find out why (ended, kicked, link expired…) and retry when it makes sense
  });
  quality.onchange = () => { hls.currentLevel = Number(quality.value); };
  hls.loadSource(source);
  hls.attachMedia(video);
}

setInterval(() => {
  const hls = onair.hls;
  if (!hls || onair.state !== "playing") return;
  const latency = hls.latency;
  const level = hls.levels[hls.currentLevel];
  // Shown once every value is known, instead of a block of dashes.
  if (!Number.isFinite(latency) || !video.videoWidth || !level) return;
  (document.getElementById("latency") as HTMLElement).textContent = `${latency.toFixed(2)} s`;
  (document.getElementById("resolution") as HTMLElement).textContent = `${video.videoWidth}×${video.videoHeight}`;
  (document.getElementById("bitrate") as HTMLElement).textContent = fmtBitrate(level.bitrate);
  statsEl.hidden = false;
}, 500);
// Title and audience now and then (the viewer count changes; a title may be renamed).
setInterval(() => void describe(), 15_000);

function stopAndProbe() {
  if (!onair.hls) return;
  onair.hls.destroy();
  onair.hls = null;
  void loop();
}

async function loop() {
  for (;;) {
    const r = await probe();
    if (r === "ok") return startHls();
    if (r === "stop") return;
    await new Promise((res) => setTimeout(res, 3000));
  }
}

if (!channel) show("error", "No channel in the address.");
else {
  void describe();
  void loop();
}
