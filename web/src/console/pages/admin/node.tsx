// The server (admins): what this node runs on and what it is doing, refreshed every few seconds,
// and where encoders publish.
import { useEffect, useState } from "preact/hooks";
import { api, call } from "../../../api/client";
import { ErrorText, Loading, Page, fmtBitrate, fmtBytes, fmtDuration, fmtTime, useLoad } from "../../ui";

/** Seconds between refreshes of the status. */
const REFRESH_S = 3;

export function AdminNode() {
  const status = useLoad(() => call(api.GET("/api/v1/node/status")).then((s) => ({ ...s, fetched: Date.now() })));
  const info = useLoad(() => call(api.GET("/api/v1/node")));
  const [paused, setPaused] = useState(false);
  useEffect(() => {
    if (paused) return;
    const t = setInterval(status.reload, REFRESH_S * 1000);
    return () => clearInterval(t);
  }, [paused, status.reload]);
  const s = status.data;
  const i = info.data;
  const fact = (name: string, label: string, value: string | number) => [
    <dt>{label}</dt>,
    <dd data-field={name}>{value}</dd>,
  ];
  return (
    <Page
      title="Server"
      actions={
        <span class="row">
          <label class="check">
            <input type="checkbox" id="node-auto" checked={!paused} onChange={(e) => setPaused(!(e.target as HTMLInputElement).checked)} />
            every {REFRESH_S} s
          </label>
          <button type="button" id="node-refresh" onClick={status.reload}>
            Refresh
          </button>
        </span>
      }
    >
      <section class="panel" id="node-status">
        <h3>Status</h3>
        {s ? (
          <>
            <ErrorText error={status.error} />
            <dl class="facts">
              {fact("name", "Node", s.name)}
              {fact("version", "Version", s.version)}
              {fact("started_at", "Started", fmtTime(s.started_at))}
              {fact("uptime", "Uptime", fmtDuration(s.uptime_seconds))}
              {fact("database", "Database", s.database)}
              {fact("storage", "Storage", s.storage)}
              {fact("spool_bytes", "Spool (waiting for the store)", fmtBytes(s.spool_bytes))}
              {fact("thumbnails", "Thumbnails", s.thumbnails ? "on" : "off (no ffmpeg)")}
              {fact("streams_live", "Live streams", s.streams_live)}
              {fact("streams_reconnecting", "Reconnecting", s.streams_reconnecting)}
              {fact("ingest_bitrate", "Ingest bit rate", fmtBitrate(s.ingest_bitrate))}
              {fact("viewers", "Viewers", s.viewers)}
              {fact("dropped_frames", "Dropped frames (slow viewers)", s.dropped_frames)}
            </dl>
            <p class="muted small" id="node-updated" data-at={s.fetched}>
              Updated {new Date(s.fetched).toLocaleTimeString()}
            </p>
          </>
        ) : (
          <Loading error={status.error} />
        )}
      </section>
      <section class="panel" id="node-info">
        <h3>Publishing</h3>
        {i ? (
          <dl class="facts">
            {fact("rtmp_url", "RTMP URL", i.rtmp_url)}
            {fact("publish_auth", "Publish authorization", i.publish_auth === "open" ? "open (any stream name, no key: development only)" : i.publish_auth)}
            {fact("public_url", "Public URL", i.public_url ?? "—")}
            {fact("allow_signup", "Sign-up", i.allow_signup ? `allowed (new accounts are ${i.signup_role}s once verified)` : "off")}
          </dl>
        ) : (
          <Loading error={info.error} />
        )}
      </section>
    </Page>
  );
}
