// Live statistics of the streams the caller may see, pushed by the server every second over
// `GET /api/v1/streams/events` (server-sent events): one EventSource for the whole console,
// with the last two minutes of bit rate and frame rate kept per channel for the charts.
import { useEffect, useState } from "preact/hooks";
import type { Schemas } from "../api/client";

export type StreamInfo = Schemas["StreamInfo"];
export interface Sample {
  t: number;
  bitrate: number;
  fps: number;
}

/** Samples kept per channel (one a second). */
export const MAX_SAMPLES = 120;

let source: EventSource | null = null;
let streams: StreamInfo[] = [];
let connected = false;
const history = new Map<string, Sample[]>();
const listeners = new Set<() => void>();

function start() {
  if (source) return;
  source = new EventSource("/api/v1/streams/events");
  source.addEventListener("open", () => {
    connected = true;
    listeners.forEach((l) => l());
  });
  source.addEventListener("error", () => {
    connected = false;
    listeners.forEach((l) => l());
  });
  source.addEventListener("streams", (e) => {
    streams = (JSON.parse((e as MessageEvent).data) as { streams: StreamInfo[] }).streams;
    const now = Date.now();
    for (const s of streams) {
      // A stream seen for the first time: its last minutes come from the server (managers).
      if (!history.has(s.channel) && s.manages) void prefill(s.channel);
      const h = history.get(s.channel) ?? [];
      h.push({ t: now, bitrate: s.ingest_bitrate, fps: s.video?.fps ?? 0 });
      if (h.length > MAX_SAMPLES) h.splice(0, h.length - MAX_SAMPLES);
      history.set(s.channel, h);
    }
    for (const c of history.keys()) if (!streams.some((s) => s.channel === c)) history.delete(c);
    listeners.forEach((l) => l());
  });
}

/** Puts the server's history of `channel` before the samples received since. */
async function prefill(channel: string) {
  try {
    const res = await fetch(`/api/v1/streams/${encodeURIComponent(channel)}/history`, { credentials: "same-origin" });
    if (!res.ok) return;
    const { samples } = (await res.json()) as { samples: { at_ms: number; bitrate: number; fps: number }[] };
    const h = history.get(channel) ?? [];
    const first = h[0]?.t ?? Infinity;
    const older = samples.filter((x) => x.at_ms < first).map((x) => ({ t: x.at_ms, bitrate: x.bitrate, fps: x.fps }));
    const merged = [...older, ...h];
    history.set(channel, merged.slice(Math.max(0, merged.length - MAX_SAMPLES)));
    listeners.forEach((l) => l());
  } catch {
    /* the chart fills from the event stream */
  }
}

/** Restarts the event stream (after signing in or out, so it carries the new credentials). */
export function restartLive() {
  source?.close();
  source = null;
  streams = [];
  history.clear();
  if (listeners.size) start();
}

/** The live streams, re-rendering on every event. */
export function useLive(): { streams: StreamInfo[]; connected: boolean; history: (channel: string) => Sample[] } {
  const [, set] = useState(0);
  useEffect(() => {
    const on = () => set((n) => n + 1);
    listeners.add(on);
    start();
    return () => void listeners.delete(on);
  }, []);
  return { streams, connected, history: (c) => history.get(c) ?? [] };
}
