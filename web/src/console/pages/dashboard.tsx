// The dashboard: the live streams of channels the user manages (their own; every channel for
// an admin), with thumbnail, viewers, uptime, ingest bit rate and a live chart of bit rate and
// frame rate, all from the event stream; other streams the user may watch are only listed,
// with a link to the player (their health is their owners' business).
import { useEffect, useState } from "preact/hooks";
import { StatsChart } from "../chart";
import { useLive, type StreamInfo, type Sample } from "../live";
import { Page, fmtBitrate, fmtDuration } from "../ui";

function Thumbnail({ channel }: { channel: string }) {
  // A new picture every ~10 s; the query defeats the browser cache between them.
  const [epoch, setEpoch] = useState(Math.floor(Date.now() / 10_000));
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const t = setInterval(() => setEpoch(Math.floor(Date.now() / 10_000)), 2_000);
    return () => clearInterval(t);
  }, []);
  return (
    <img
      alt={`${channel} thumbnail`}
      src={`/live/${encodeURIComponent(channel)}/thumbnail.jpg?t=${epoch}`}
      style={failed ? "visibility:hidden" : ""}
      onError={() => setFailed(true)}
      onLoad={() => setFailed(false)}
    />
  );
}

/** The server's warnings about a stream its owner should act on (keyframes, bit rate, drops). */
export function HealthWarnings({ s }: { s: StreamInfo }) {
  const w = s.health?.warnings ?? [];
  if (!w.length) return null;
  return (
    <ul class="warnings" data-warnings={w.map((x) => x.code).join(" ")}>
      {w.map((x) => (
        <li key={x.code}>{x.message}</li>
      ))}
    </ul>
  );
}

const watchUrl = (s: StreamInfo) => `/watch/${encodeURIComponent(s.channel)}`;

function StreamCard({ s, samples }: { s: StreamInfo; samples: Sample[] }) {
  const viewers = s.viewers.hls + s.viewers.llhls + s.viewers.flv;
  const up = (Date.now() - Date.parse(s.started_at)) / 1000;
  // The title opens the channel's console page (where its owner manages it); the picture
  // opens the player.
  const page = s.channel_id ? `/console/channels/${encodeURIComponent(s.channel_id)}` : watchUrl(s);
  return (
    <article class="card" data-channel={s.channel}>
      <a href={watchUrl(s)} title="Watch">
        <Thumbnail channel={s.channel} />
      </a>
      <div class="body">
        <p class="row">
          <span class={`badge ${s.state === "live" ? "live" : "off"}`}>{s.state}</span>
          <a class="title" href={page}>{s.title || s.channel}</a>
        </p>
        <p class="meta">
          {s.video ? `${s.video.width}×${s.video.height} ${s.video.fps.toFixed(0)} fps · ` : ""}
          {fmtBitrate(s.ingest_bitrate)} · <span data-viewers={viewers}>{viewers} watching</span> · up {fmtDuration(up)}
        </p>
        <HealthWarnings s={s} />
        <StatsChart samples={samples} label={s.channel} />
      </div>
    </article>
  );
}

export function Dashboard() {
  const live = useLive();
  const history = live.history;
  // Ended streams are still served for a while, but they are not "live now".
  const current = live.streams.filter((s) => s.state !== "ended");
  const streams = current.filter((s) => s.manages);
  const others = current.filter((s) => !s.manages);
  return (
    <Page title="Dashboard">
      <h3>Your live streams</h3>
      {streams.length === 0 && (
        <p id="empty" class="muted">
          None of your channels is live. <a href="/console/devices">Register an encoder</a> and start streaming.
        </p>
      )}
      <div id="streams" class="cards">
        {streams.map((s) => (
          <StreamCard key={s.channel} s={s} samples={history(s.channel)} />
        ))}
      </div>
      {others.length > 0 && (
        <>
          <h3>Also live</h3>
          <ul id="others" class="plain">
            {others.map((s) => (
              <li key={s.channel} data-channel={s.channel}>
                <a href={watchUrl(s)}>{s.title || s.channel}</a>
              </li>
            ))}
          </ul>
        </>
      )}
    </Page>
  );
}
