// One channel's page: live state and chart, "Connect your encoder", settings, playback URLs
// with a signed-link generator and embed code, moderation (ban, kick, delete) and the viewer
// grants of a private channel.
import { useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { StatsChart } from "../chart";
import { ConnectEncoder } from "../encoder";
import { HlsVideo } from "../hlsvideo";
import { useLive } from "../live";
import { navigate } from "../router";
import { Copyable, ErrorText, Loading, Page, fmtBitrate, formValues, useAction, useLoad } from "../ui";
import { LiveBadge, SLUG_RULE, VISIBILITIES, type ChannelView } from "./channels";
import { HealthWarnings } from "./dashboard";
import { NewDevice, type DeviceWithKey } from "./devices";

type Channel = ChannelView;

const abs = (u: string) => (u.startsWith("/") ? location.origin + u : u);

function Settings({ c, saved }: { c: Channel; saved: () => void }) {
  const act = useAction();
  const [ok, setOk] = useState(false);
  const num = (v: string) => (v.trim() === "" ? null : Number(v));
  const submit = (e: Event) => {
    const v = formValues(e);
    setOk(false);
    void act
      .run(() =>
        call(
          api.PATCH("/api/v1/channels/{id}", {
            params: { path: { id: c.id } },
            body: {
              title: v.title,
              slug: v.slug,
              visibility: v.visibility as Schemas["Visibility"],
              record: v.record === "on",
              retention_days: num(v.retention_days),
              segment_duration_ms: num(v.segment_duration_ms),
              part_duration_ms: num(v.part_duration_ms),
            },
          }),
        ),
      )
      .then((done) => {
        if (done) {
          setOk(true);
          saved();
        }
      });
  };
  return (
    <form id="channel-settings" class="panel" onSubmit={submit}>
      <h3>Settings</h3>
      <label>
        Title <input name="title" defaultValue={c.title} required />
      </label>
      <label>
        Name in URLs (slug) <input name="slug" defaultValue={c.slug} required maxLength={64} pattern="[A-Za-z0-9_\-]{1,64}" title={SLUG_RULE} />
        <span class="muted">Renaming ends a live stream and every signed link.</span>
      </label>
      <label>
        Who may watch
        <select name="visibility">
          {VISIBILITIES.map((v) => (
            <option value={v.value} selected={v.value === c.visibility}>
              {v.text}
            </option>
          ))}
        </select>
      </label>
      <label class="check">
        <input type="checkbox" name="record" defaultChecked={c.record} /> Record broadcasts (VOD)
      </label>
      <label>
        Keep recordings for (days; empty: forever) <input name="retention_days" type="number" min="1" defaultValue={c.retention_days ?? ""} />
      </label>
      <label>
        Segment duration (ms; empty: node default) <input name="segment_duration_ms" type="number" min="500" step="100" defaultValue={c.segment_duration_ms ?? ""} />
      </label>
      <label>
        LL-HLS part duration (ms; empty: node default) <input name="part_duration_ms" type="number" min="50" step="10" defaultValue={c.part_duration_ms ?? ""} />
      </label>
      <button type="submit" disabled={act.busy}>
        Save
      </button>
      {ok && <p class="ok">Saved.</p>}
      <ErrorText error={act.error} />
    </form>
  );
}

function Playback({ c }: { c: Channel }) {
  const act = useAction();
  const [signed, setSigned] = useState<Schemas["PlaybackUrls"] | null>(null);
  const slug = encodeURIComponent(c.slug);
  // `--public-url` when the node has one (a CDN name, say), else the address in use.
  const node = useLoad(() => call(api.GET("/api/v1/node")));
  const base = node.data?.public_base ?? location.origin;
  const open = c.visibility === "public" || c.visibility === "authenticated";
  const generate = (e: Event) => {
    const v = formValues(e);
    void act.run(async () => {
      setSigned(
        await call(
          api.POST("/api/v1/channels/{id}/playback-url", {
            params: { path: { id: c.id } },
            body: { ttl_seconds: Number(v.ttl) * 60, bind_ip: v.bind_ip === "on", format: v.format },
          }),
        ),
      );
    });
  };
  const embed = (q: string) =>
    `<iframe src="${base}/embed/${slug}${q}" width="960" height="540" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>`;
  return (
    <div class="panel" id="playback">
      <h3>Playback</h3>
      {open ? (
        <>
          <Copyable label="Watch page" name="watch-url" value={`${base}/watch/${slug}`} />
          <Copyable label="LL-HLS" name="hls-url" value={`${base}/live/${slug}/index.m3u8`} />
          <Copyable label="HLS (MPEG-TS)" name="ts-url" value={`${base}/live/${slug}/ts/index.m3u8`} />
          <Copyable label="HTTP-FLV" name="flv-url" value={`${base}/live/${slug}.flv`} />
          <Copyable label="Embed code" name="embed" value={embed("")} multiline />
          {c.visibility === "authenticated" && <p class="muted">Viewers must be signed in to OnAir.</p>}
        </>
      ) : (
        <p class="muted">
          This channel is {c.visibility}: viewers need {c.visibility === "private" ? "a grant or " : ""}a signed link.
        </p>
      )}
      <h4>Signed link</h4>
      <form id="signed-url" class="inline" onSubmit={generate}>
        <label>
          Valid for (minutes) <input name="ttl" type="number" min="1" max="10080" value="60" />
        </label>
        <label>
          Format
          <select name="format">
            <option value="token">OnAir token</option>
            <option value="alibaba">Alibaba CDN type A</option>
          </select>
        </label>
        <label class="check">
          <input type="checkbox" name="bind_ip" /> Only for my IP address
        </label>
        <button type="submit" disabled={act.busy}>
          Create link
        </button>
      </form>
      <ErrorText error={act.error} />
      {signed && (
        <div id="signed-result">
          <p class="muted">Expires {new Date(signed.expires_at * 1000).toLocaleString()}.</p>
          <Copyable label="Signed watch page" name="signed-watch" value={`${base}/watch/${slug}?${signed.query}`} />
          <Copyable label="Signed LL-HLS" name="signed-hls" value={abs(signed.hls)} />
          <Copyable label="Signed HLS (MPEG-TS)" name="signed-ts" value={abs(signed.ts)} />
          <Copyable label="Signed HTTP-FLV" name="signed-flv" value={abs(signed.flv)} />
          <Copyable label="Signed embed code" name="signed-embed" value={embed("?" + signed.query)} multiline />
        </div>
      )}
    </div>
  );
}

function Moderation({ c, changed }: { c: Channel; changed: () => void }) {
  const act = useAction();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const ban = (e: Event) => {
    const v = formValues(e);
    void act
      .run(() => call(api.POST("/api/v1/channels/{id}/ban", { params: { path: { id: c.id } }, body: { reason: v.reason || null } })))
      .then((ok) => ok && changed());
  };
  return (
    <div class="panel" id="moderation">
      <h3>Moderation</h3>
      {c.banned ? (
        <div class="row">
          <span>Banned{c.banned_reason ? `: ${c.banned_reason}` : ""}.</span>
          <button
            type="button"
            id="resume"
            disabled={act.busy}
            onClick={() => act.run(() => call(api.POST("/api/v1/channels/{id}/resume", { params: { path: { id: c.id } } }))).then((ok) => ok && changed())}
          >
            Lift the ban
          </button>
        </div>
      ) : (
        <form id="ban" class="inline" onSubmit={ban}>
          <label>
            Reason <input name="reason" maxLength={200} />
          </label>
          <button type="submit" class="danger" disabled={act.busy}>
            Ban (ends the stream, refuses publishing)
          </button>
        </form>
      )}
      <div class="row" style="margin-top:.6em">
        <button
          type="button"
          id="kick"
          disabled={act.busy || !c.live}
          onClick={() => act.run(() => call(api.POST("/api/v1/channels/{id}/kick", { params: { path: { id: c.id } } }))).then((ok) => ok && changed())}
        >
          Disconnect the publisher
        </button>
        {confirmDelete ? (
          <>
            <span>Delete the channel, its devices, its stream keys and its recordings?</span>
            <button
              type="button"
              class="danger"
              id="delete-confirm"
              onClick={() =>
                act.run(() => call(api.DELETE("/api/v1/channels/{id}", { params: { path: { id: c.id } } }))).then((ok) => ok && navigate("/console/channels"))
              }
            >
              Delete
            </button>
            <button type="button" onClick={() => setConfirmDelete(false)}>
              Keep it
            </button>
          </>
        ) : (
          <button type="button" class="danger" id="delete" onClick={() => setConfirmDelete(true)}>
            Delete channel…
          </button>
        )}
      </div>
      <ErrorText error={act.error} />
    </div>
  );
}

function Grants({ c }: { c: Channel }) {
  const { data, error, reload } = useLoad(() => call(api.GET("/api/v1/channels/{id}/grants", { params: { path: { id: c.id } } })), [c.id]);
  const act = useAction();
  const add = (e: Event) => {
    const v = formValues(e);
    void act
      .run(() => call(api.PUT("/api/v1/channels/{id}/grants/{user_id}", { params: { path: { id: c.id, user_id: v.user_id.trim() } } })))
      .then((ok) => ok && reload());
  };
  return (
    <div class="panel" id="grants">
      <h3>Who else may watch</h3>
      {!data ? (
        <Loading error={error} />
      ) : data.user_ids.length === 0 ? (
        <p class="muted">Only you (and admins) may watch.</p>
      ) : (
        <ul>
          {data.user_ids.map((u) => (
            <li>
              <code>{u}</code>{" "}
              <button
                type="button"
                class="link"
                onClick={() => act.run(() => call(api.DELETE("/api/v1/channels/{id}/grants/{user_id}", { params: { path: { id: c.id, user_id: u } } }))).then((ok) => ok && reload())}
              >
                remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form class="inline" onSubmit={add}>
        <label>
          User id <input name="user_id" required />
        </label>
        <button type="submit" disabled={act.busy}>
          Allow
        </button>
      </form>
      <ErrorText error={act.error} />
    </div>
  );
}

function Encoder({ c }: { c: Channel }) {
  const node = useLoad(() => call(api.GET("/api/v1/node")));
  const devices = useLoad(() => call(api.GET("/api/v1/devices", { params: { query: { channel_id: c.id } } })), [c.id]);
  const [created, setCreated] = useState<DeviceWithKey | null>(null);
  if (!node.data) return <Loading error={node.error} />;
  const first = devices.data?.items[0];
  return (
    <>
      <ConnectEncoder
        rtmpUrl={node.data.rtmp_url}
        streamKey={created?.stream_key}
        keyPrefix={created ? undefined : first?.stream_key_prefix}
        segmentMs={c.segment_duration_ms ?? node.data.segment_duration_ms}
      />
      <div class="panel" id="channel-devices">
        <h3>Devices on this channel</h3>
        {devices.data?.items.length ? (
          <ul>
            {devices.data.items.map((d) => (
              <li>
                <a href={`/console/devices/${d.id}`}>{d.name}</a> <span class={`badge ${d.online ? "live" : "off"}`}>{d.online ? "online" : "offline"}</span>{" "}
                <span class="muted">key {d.stream_key_prefix}…{d.enabled ? "" : " (disabled)"}</span>
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No device yet: register one to get a stream key.</p>
        )}
        <NewDevice
          channels={[c]}
          done={(d) => {
            setCreated(d);
            devices.reload();
          }}
        />
      </div>
    </>
  );
}

/** Live state and chart: its own component, so the once-a-second updates re-render only it
 * (re-rendering the forms would reset what the user is typing). */
function LivePanel({ c }: { c: Channel }) {
  const live = useLive();
  // An ended stream is still served for a while (late viewers finish it): not live.
  const stream = live.streams.find((s) => s.channel === c.slug && s.state !== "ended");
  if (!stream) {
    return (
      <p id="live-state">
        <LiveBadge live={false} banned={c.banned} /> <span class="muted">Nothing is being published to this channel.</span>
      </p>
    );
  }
  return (
    <div class="panel" id="live-stats">
      <h3>
        {/* The badge says "live"; only a dropped publisher needs words. */}
        <LiveBadge live={stream.state === "live"} banned={c.banned} />
        {stream.state === "reconnecting" && <span class="muted"> the encoder dropped; waiting for it to come back</span>}
      </h3>
      <p>
        {stream.video ? `${stream.video.width}×${stream.video.height} ${stream.video.codec} · ` : ""}
        {stream.audio ? `${stream.audio.codec} · ` : ""}
        {fmtBitrate(stream.ingest_bitrate)} · {stream.viewers.hls + stream.viewers.llhls + stream.viewers.flv} watching
      </p>
      {stream.health?.keyframe_interval_ms != null && (
        <p class="muted" id="keyframe-interval">keyframe interval {(stream.health.keyframe_interval_ms / 1000).toFixed(1)} s</p>
      )}
      <HealthWarnings s={stream} />
      <div class="live-row">
        {/* What viewers see, as they see it (issue #12: no preview on the channel page). */}
        <div id="preview">
          <HlsVideo class="preview" live src={`/live/${encodeURIComponent(c.slug)}/index.m3u8`} />
        </div>
        <StatsChart samples={live.history(c.slug)} label={c.slug} />
      </div>
    </div>
  );
}

export function ChannelPage({ id }: { id: string }) {
  const { data: c, error, reload } = useLoad(() => call(api.GET("/api/v1/channels/{id}", { params: { path: { id } } })), [id]);
  if (!c) return <Page title="Channel">{<Loading error={error} />}</Page>;
  return (
    <Page title={c.title} actions={<a href={`/watch/${encodeURIComponent(c.slug)}`}>Watch</a>}>
      <p class="muted">
        /{c.slug} · {c.visibility}
      </p>
      <LivePanel c={c} />
      <Encoder c={c} />
      <Playback c={c} />
      {/* Keyed by id only: after a save the same (uncontrolled) form stays, with its "Saved." */}
      <Settings key={c.id} c={c} saved={reload} />
      {c.visibility === "private" && <Grants c={c} />}
      <Moderation c={c} changed={reload} />
    </Page>
  );
}
