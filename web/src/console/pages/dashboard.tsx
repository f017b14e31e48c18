// The dashboard: every live stream the user may see, with its thumbnail, viewers, uptime,
// ingest bit rate and a live chart of bit rate and frame rate, all from the event stream.
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

function StreamCard({ s, samples }: { s: StreamInfo; samples: Sample[] }) {
  const viewers = s.viewers.hls + s.viewers.llhls + s.viewers.flv;
  const up = (Date.now() - Date.parse(s.started_at)) / 1000;
  return (
    <article class="card" data-channel={s.channel}>
      <a href={`/watch/${encodeURIComponent(s.channel)}`}>
        <Thumbnail channel={s.channel} />
      </a>
      <div class="body">
        <p class="row">
          <span class={`badge ${s.state === "live" ? "live" : "off"}`}>{s.state}</span>
          <a href={`/watch/${encodeURIComponent(s.channel)}`}>{s.channel}</a>
        </p>
        <p class="meta">
          {s.video ? `${s.video.width}×${s.video.height} ${s.video.fps.toFixed(0)} fps · ` : ""}
          {fmtBitrate(s.ingest_bitrate)} · <span data-viewers={viewers}>{viewers} watching</span> · up {fmtDuration(up)}
        </p>
        <StatsChart samples={samples} label={s.channel} />
      </div>
    </article>
  );
}

export function Dashboard() {
  const live = useLive();
  const history = live.history;
  // Ended streams are still served for a while, but they are not "live now".
  const streams = live.streams.filter((s) => s.state !== "ended");
  return (
    <Page title="Dashboard">
      <h3>Live now</h3>
      {streams.length === 0 && (
        <p id="empty" class="muted">
          No stream is live. <a href="/console/devices">Register an encoder</a> and start streaming.
        </p>
      )}
      <div id="streams" class="cards">
        {streams.map((s) => (
          <StreamCard key={s.channel} s={s} samples={history(s.channel)} />
        ))}
      </div>
    </Page>
  );
}
