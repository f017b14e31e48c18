// Devices (encoders): the list with live status, registering one (its stream key is shown once,
// with the encoder settings), and (in device.tsx) a device's own page.
import { useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { ConnectEncoder } from "../encoder";
import { ErrorText, Loading, Page, fmtBitrate, fmtMs, formValues, useAction, useLoad } from "../ui";
import type { ChannelView } from "./channels";

export { DevicePage } from "./device";

export type DeviceWithKey = Schemas["DeviceWithKey"];
export type DeviceView = Schemas["DeviceView"];
export const KINDS: Schemas["DeviceKind"][] = ["obs", "ffmpeg", "gstreamer", "hardware", "mobile", "other"];

/** Registers a device on one of `channels`; `done` gets it with its one-time stream key. */
export function NewDevice({ channels, done }: { channels: ChannelView[]; done: (d: DeviceWithKey) => void }) {
  const act = useAction();
  const submit = (e: Event) => {
    const v = formValues(e);
    void act.run(async () => {
      done(await call(api.POST("/api/v1/devices", { body: { name: v.name, kind: v.kind as Schemas["DeviceKind"], channel_id: v.channel_id } })));
      (e.target as HTMLFormElement).reset();
    });
  };
  return (
    <form id="new-device" class="inline" onSubmit={submit}>
      <label>
        Device name <input name="name" required maxLength={100} placeholder="Studio OBS" />
      </label>
      <label>
        Kind
        <select name="kind">
          {KINDS.map((k) => (
            <option value={k}>{k}</option>
          ))}
        </select>
      </label>
      {channels.length === 1 ? (
        <input type="hidden" name="channel_id" value={channels[0].id} />
      ) : (
        <label>
          Channel
          <select name="channel_id" required>
            {channels.map((c) => (
              <option value={c.id}>{c.title}</option>
            ))}
          </select>
        </label>
      )}
      <button type="submit" disabled={act.busy || channels.length === 0}>
        Register device
      </button>
      <ErrorText error={act.error} />
    </form>
  );
}

/** A freshly issued stream key with the encoder settings (after registering or rotating). */
export function KeyOnce({ d, segmentMs }: { d: DeviceWithKey; segmentMs: number }) {
  return (
    <div id="new-key" data-device={d.id}>
      <p class="ok">
        Device <b>{d.name}</b> has a new stream key.
      </p>
      <ConnectEncoder rtmpUrl={d.rtmp_url} streamKey={d.stream_key} segmentMs={segmentMs} />
    </div>
  );
}

export function DeviceStatus({ d }: { d: DeviceView }) {
  if (!d.enabled) return <span class="badge off">disabled</span>;
  return d.online ? <span class="badge live">online</span> : <span class="badge off">offline</span>;
}

export function Devices() {
  const list = useLoad(() => call(api.GET("/api/v1/devices", { params: { query: { limit: 200 } } })));
  const channels = useLoad(() => call(api.GET("/api/v1/channels", { params: { query: { limit: 200 } } })));
  const node = useLoad(() => call(api.GET("/api/v1/node")));
  const [created, setCreated] = useState<DeviceWithKey | null>(null);
  const channelName = (id: string) => channels.data?.items.find((c) => c.id === id)?.title ?? id;
  return (
    <Page title="Devices">
      <div class="panel">
        <h3>Register an encoder</h3>
        {channels.data && channels.data.items.length === 0 ? (
          <p>
            First <a href="/console/channels">create a channel</a> for it to publish to.
          </p>
        ) : (
          <NewDevice
            channels={channels.data?.items ?? []}
            done={(d) => {
              setCreated(d);
              list.reload();
            }}
          />
        )}
        {created && <KeyOnce d={created} segmentMs={node.data?.segment_duration_ms ?? 2000} />}
      </div>
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.items.length === 0 ? (
        <p class="muted">No devices yet.</p>
      ) : (
        <div class="table-wrap">
          <table id="devices" class="stack">
            <thead>
              <tr>
                <th>Device</th>
                <th>Status</th>
                <th>Channel</th>
                <th>Live</th>
                <th>Key</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((d) => (
                <tr data-device={d.id}>
                  <td>
                    <a href={`/console/devices/${d.id}`}>{d.name}</a> <span class="muted">{d.kind}</span>
                  </td>
                  <td>
                    <DeviceStatus d={d} />
                  </td>
                  <td>
                    <a href={`/console/channels/${d.channel_id}`}>{channelName(d.channel_id)}</a>
                  </td>
                  <td>{d.live ? `${d.live.width ?? "?"}×${d.live.height ?? "?"} · ${fmtBitrate(d.live.bitrate)}` : "—"}</td>
                  <td>
                    <code>{d.stream_key_prefix}…</code>
                  </td>
                  <td>{d.last_seen_at ? fmtMs(d.last_seen_at) : "never"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
