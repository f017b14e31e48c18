// One device's page: live status (online, bit rate and frame rate chart, resolution, codecs,
// publisher address, last seen), rotating its stream key, enabling/disabling, kicking,
// renaming or moving it to another channel, and deleting it.
import { useEffect, useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { StatsChart } from "../chart";
import { useLive } from "../live";
import { navigate } from "../router";
import { ErrorText, Loading, Page, fmtBitrate, fmtDuration, fmtMs, formValues, useAction, useLoad } from "../ui";
import { DeviceStatus, KINDS, KeyOnce, type DeviceView, type DeviceWithKey } from "./devices";

/** How often the page asks for the device's live status. */
const STATUS_EVERY_MS = 2000;

/** Live status, refreshed every two seconds (its own component: see channel.tsx). */
function Status({ id, slug, initial }: { id: string; slug: string; initial: DeviceView }) {
  const [d, setD] = useState(initial);
  const live = useLive();
  useEffect(() => {
    const t = setInterval(() => {
      api.GET("/api/v1/devices/{id}", { params: { path: { id } } }).then((r) => r.data && setD(r.data), () => {});
    }, STATUS_EVERY_MS);
    return () => clearInterval(t);
  }, [id]);
  const l = d.live;
  return (
    <div class="panel" id="device-status" data-online={String(d.online)}>
      <h3>
        <DeviceStatus d={d} />
      </h3>
      <dl class="facts">
        {l && (
          <>
            <dt>Bit rate</dt>
            <dd data-field="bitrate">{fmtBitrate(l.bitrate)}</dd>
            <dt>Frame rate</dt>
            <dd>{l.fps.toFixed(1)} fps</dd>
            <dt>Resolution</dt>
            <dd data-field="resolution">{l.width && l.height ? `${l.width}×${l.height}` : "—"}</dd>
            <dt>Codecs</dt>
            <dd data-field="codecs">{[l.video_codec, l.audio_codec].filter(Boolean).join(", ") || "—"}</dd>
            <dt>Publisher</dt>
            <dd data-field="ip">{l.publisher_ip ?? "—"}</dd>
            <dt>Live for</dt>
            <dd>{fmtDuration(l.uptime_seconds)}</dd>
          </>
        )}
        <dt>Last seen</dt>
        <dd>{d.last_seen_at ? fmtMs(d.last_seen_at) : "never"}</dd>
        <dt>Last address</dt>
        <dd>{d.last_ip ?? "—"}</dd>
      </dl>
      {l && <StatsChart samples={live.history(slug)} label={d.name} />}
    </div>
  );
}

function Edit({ d, channels, saved }: { d: DeviceView; channels: Schemas["ChannelView"][]; saved: () => void }) {
  const act = useAction();
  const submit = (e: Event) => {
    const v = formValues(e);
    void act
      .run(() =>
        call(
          api.PATCH("/api/v1/devices/{id}", {
            params: { path: { id: d.id } },
            body: { name: v.name, kind: v.kind as Schemas["DeviceKind"], channel_id: v.channel_id },
          }),
        ),
      )
      .then((ok) => ok && saved());
  };
  return (
    <form id="device-edit" class="panel" onSubmit={submit}>
      <h3>Settings</h3>
      <label>
        Name <input name="name" defaultValue={d.name} required maxLength={100} />
      </label>
      <label>
        Kind
        <select name="kind">
          {KINDS.map((k) => (
            <option value={k} selected={k === d.kind}>
              {k}
            </option>
          ))}
        </select>
      </label>
      <label>
        Channel
        <select name="channel_id">
          {channels.map((c) => (
            <option value={c.id} selected={c.id === d.channel_id}>
              {c.title}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={act.busy}>
        Save
      </button>
      <ErrorText error={act.error} />
    </form>
  );
}

function Actions({ d, changed, rotated }: { d: DeviceView; changed: () => void; rotated: (k: DeviceWithKey) => void }) {
  const act = useAction();
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [confirmRotate, setConfirmRotate] = useState(false);
  const id = { params: { path: { id: d.id } } };
  const rotate = (e: Event) => {
    const v = formValues(e);
    void act.run(async () => {
      rotated(await call(api.POST("/api/v1/devices/{id}/rotate-key", { ...id, body: { kick: v.kick === "on" } })));
      setConfirmRotate(false);
      changed();
    });
  };
  return (
    <div class="panel" id="device-actions">
      <h3>Stream key</h3>
      <p>
        Current key starts with <code>{d.stream_key_prefix}</code>. Rotating issues a new key and the old one stops working at
        once; an encoder already on air with the old key stays on air unless you disconnect it too.
      </p>
      {confirmRotate ? (
        // Rotating needs a second click, and ending a broadcast a deliberate tick (issue #12:
        // one click on a pre-ticked form ended a live broadcast).
        <form id="rotate" class="confirm" onSubmit={rotate}>
          <p>
            <b>Rotate the key of {d.name}?</b> The current key stops working at once: give the encoder the new key before it next
            connects.
          </p>
          <label class="check">
            <input type="checkbox" name="kick" defaultChecked={false} /> Also disconnect the encoder now
            {d.online ? " (ends the live broadcast)" : ""}
          </label>
          <div class="row">
            <button type="submit" class="danger" id="rotate-confirm" disabled={act.busy}>
              Rotate the key
            </button>
            <button type="button" id="rotate-cancel" onClick={() => setConfirmRotate(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <button type="button" id="rotate-start" onClick={() => setConfirmRotate(true)}>
          Rotate key…
        </button>
      )}
      <div class="row" style="margin-top:.8em">
        <button
          type="button"
          id="toggle-enabled"
          disabled={act.busy}
          onClick={() => act.run(() => call(api.PATCH("/api/v1/devices/{id}", { ...id, body: { enabled: !d.enabled } }))).then((ok) => ok && changed())}
        >
          {d.enabled ? "Disable" : "Enable"}
        </button>
        <button
          type="button"
          id="device-kick"
          disabled={act.busy}
          onClick={() => act.run(() => call(api.POST("/api/v1/devices/{id}/kick", id))).then((ok) => ok && changed())}
        >
          Disconnect now
        </button>
        {confirmDelete ? (
          <>
            <span>Delete this device and its key?</span>
            <button
              type="button"
              class="danger"
              id="device-delete-confirm"
              onClick={() => act.run(() => call(api.DELETE("/api/v1/devices/{id}", id))).then((ok) => ok && navigate("/console/devices"))}
            >
              Delete
            </button>
            <button type="button" onClick={() => setConfirmDelete(false)}>
              Keep it
            </button>
          </>
        ) : (
          <button type="button" class="danger" id="device-delete" onClick={() => setConfirmDelete(true)}>
            Delete…
          </button>
        )}
      </div>
      <ErrorText error={act.error} />
    </div>
  );
}

export function DevicePage({ id }: { id: string }) {
  const dev = useLoad(() => call(api.GET("/api/v1/devices/{id}", { params: { path: { id } } })), [id]);
  const channels = useLoad(() => call(api.GET("/api/v1/channels", { params: { query: { limit: 200 } } })));
  const node = useLoad(() => call(api.GET("/api/v1/node")));
  const [key, setKey] = useState<DeviceWithKey | null>(null);
  const d = dev.data;
  if (!d) return <Page title="Device">{<Loading error={dev.error} />}</Page>;
  const channel = channels.data?.items.find((c) => c.id === d.channel_id);
  return (
    <Page title={d.name}>
      <p class="muted">
        {d.kind} · publishes to {channel ? <a href={`/console/channels/${channel.id}`}>{channel.title}</a> : d.channel_id}
      </p>
      <Status key={`${d.id}-${d.updated_at}`} id={d.id} slug={channel?.slug ?? ""} initial={d} />
      {key && <KeyOnce d={key} segmentMs={channel?.segment_duration_ms ?? node.data?.segment_duration_ms ?? 2000} />}
      <Actions d={d} changed={dev.reload} rotated={setKey} />
      {channels.data && <Edit key={d.updated_at} d={d} channels={channels.data.items} saved={dev.reload} />}
    </Page>
  );
}
