// Recordings (past broadcasts as VOD): the list with thumbnail, duration and size, playing one
// in the page, MP4 download, a shareable signed link, deleting, and each channel's recording
// and retention setting.
import { useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { Copyable, ErrorText, Loading, Page, fmtBytes, fmtDuration, fmtMs, formValues, useAction, useLoad } from "../ui";
import { HlsVideo } from "../hlsvideo";
import { PAGE_SIZE, Pager, paged } from "../paging";
import type { ChannelView } from "./channels";

type Recording = Schemas["Recording"];

/** Plays a recording's HLS playlist in the page. */
function Player({ r }: { r: Recording }) {
  return (
    <div class="panel" id="vod-player" data-recording={r.id}>
      <HlsVideo class="vod" src={`/vod/${encodeURIComponent(r.id)}/index.m3u8`} />
    </div>
  );
}

function Share({ r }: { r: Recording }) {
  const act = useAction();
  const [urls, setUrls] = useState<Schemas["VodUrls"] | null>(null);
  return (
    <span>
      <button
        type="button"
        class="link"
        data-action="share"
        onClick={() =>
          act.run(async () =>
            setUrls(await call(api.POST("/api/v1/recordings/{id}/playback-url", { params: { path: { id: r.id } }, body: { ttl_seconds: 7 * 86400 } }))),
          )
        }
      >
        Share link
      </button>
      {urls && <Copyable label="Signed HLS link (7 days)" name={`share-${r.id}`} value={urls.hls.startsWith("/") ? location.origin + urls.hls : urls.hls} />}
      <ErrorText error={act.error} />
    </span>
  );
}

function Row({ r, playing, play, deleted }: { r: Recording; playing: boolean; play: () => void; deleted: () => void }) {
  const act = useAction();
  const [confirm, setConfirm] = useState(false);
  const [thumb, setThumb] = useState(true);
  return (
    <tr data-recording={r.id} class={playing ? "selected" : ""}>
      <td style="width:10em">
        {thumb ? (
          <img class="thumb" alt="" src={`/vod/${encodeURIComponent(r.id)}/thumbnail.jpg`} onError={() => setThumb(false)} style="width:9em;aspect-ratio:16/9;object-fit:cover;background:#000" />
        ) : (
          <span class="muted">no picture</span>
        )}
      </td>
      <td>
        <b>{r.channel_slug}</b>
        <br />
        <span class="muted">{fmtMs(r.started_at)}</span>
        <br />
        <span class={`badge ${r.status === "recording" ? "live" : "off"}`}>{r.status}</span>
      </td>
      <td data-field="duration" data-label="Duration">{fmtDuration(r.duration_ms / 1000)}</td>
      <td data-field="size" data-label="Size" title={`${fmtBytes(r.stored_bytes)} in storage (MP4 and MPEG-TS copies)`}>
        {fmtBytes(r.bytes)}
      </td>
      <td>
        {r.width && r.height ? `${r.width}×${r.height}` : "—"}
        <br />
        <span class="muted">{r.codecs ?? ""}</span>
      </td>
      <td>
        <div class="row">
          <button type="button" data-action="play" onClick={play} disabled={r.segments === 0}>
            Play
          </button>
          {r.status === "complete" ? (
            <a href={`/api/v1/recordings/${encodeURIComponent(r.id)}/download`} data-action="download" download="">
              Download MP4
            </a>
          ) : (
            // The MP4 is made from the stored recording, which is still being written.
            <button type="button" data-action="download" disabled title="The MP4 can be downloaded once the broadcast has ended and is stored.">
              Download MP4
            </button>
          )}
          <Share r={r} />
          {confirm ? (
            <>
              <button
                type="button"
                class="danger"
                data-action="delete-confirm"
                disabled={act.busy}
                onClick={() => act.run(() => call(api.DELETE("/api/v1/recordings/{id}", { params: { path: { id: r.id } } }))).then((ok) => ok && deleted())}
              >
                Delete for good
              </button>
              <button type="button" onClick={() => setConfirm(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" class="danger" data-action="delete" onClick={() => setConfirm(true)}>
              Delete…
            </button>
          )}
        </div>
        <ErrorText error={act.error} />
      </td>
    </tr>
  );
}

/** A channel's recording switch and retention (how long recordings are kept). */
function Retention({ c, saved }: { c: ChannelView; saved: () => void }) {
  const act = useAction();
  const [ok, setOk] = useState(false);
  const submit = (e: Event) => {
    const v = formValues(e);
    setOk(false);
    void act
      .run(() =>
        call(
          api.PATCH("/api/v1/channels/{id}", {
            params: { path: { id: c.id } },
            body: { record: v.record === "on", retention_days: v.retention_days ? Number(v.retention_days) : null },
          }),
        ),
      )
      .then((done) => done && (setOk(true), saved()));
  };
  return (
    <form id="retention" class="inline panel" onSubmit={submit}>
      <label class="check">
        <input type="checkbox" name="record" defaultChecked={c.record} /> Record {c.title}
      </label>
      <label>
        Keep recordings for (days; empty: forever) <input name="retention_days" type="number" min="1" defaultValue={c.retention_days ?? ""} />
      </label>
      <button type="submit" disabled={act.busy}>
        Save
      </button>
      {ok && <span class="ok">Saved.</span>}
      <ErrorText error={act.error} />
    </form>
  );
}

export function Recordings() {
  const channels = useLoad(() => call(api.GET("/api/v1/channels", { params: { query: { limit: 200 } } })));
  const [channelId, setChannelId] = useState<string>(new URLSearchParams(location.search).get("channel") ?? "");
  const [offset, setOffset] = useState(0);
  const list = useLoad(
    () =>
      call(
        api.GET("/api/v1/recordings", {
          params: { query: { limit: PAGE_SIZE + 1, offset, ...(channelId ? { channel_id: channelId } : {}) } },
        }),
      ).then((r) => paged(r.items)),
    [channelId, offset],
  );
  const [playing, setPlaying] = useState<Recording | null>(null);
  const channel = channels.data?.items.find((c) => c.id === channelId);
  return (
    <Page title="Recordings">
      <label class="row">
        Channel
        <select
          id="recordings-channel"
          value={channelId}
          onChange={(e) => {
            const id = (e.target as HTMLSelectElement).value;
            setChannelId(id);
            setOffset(0);
            history.replaceState(null, "", id ? `?channel=${encodeURIComponent(id)}` : location.pathname);
          }}
        >
          <option value="">All channels</option>
          {channels.data?.items.map((c) => (
            <option value={c.id}>{c.title}</option>
          ))}
        </select>
      </label>
      {channel ? (
        <Retention key={channel.id /* id only: after a save the same form stays, with its "Saved." */} c={channel} saved={channels.reload} />
      ) : (
        <p class="muted">Pick a channel to change whether it records and how long recordings are kept.</p>
      )}
      {playing && <Player r={playing} />}
      <Pager name="recordings" offset={offset} count={list.data?.items.length ?? 0} more={list.data?.more ?? false} go={setOffset} />
      {!list.data ? (
        <Loading error={list.error} />
      ) : list.data.items.length === 0 ? (
        <p class="muted" id="no-recordings">
          No recordings. Turn recording on for a channel and go live.
        </p>
      ) : (
        <div class="table-wrap">
          <table id="recordings" class="stack">
            <thead>
              <tr>
                <th></th>
                <th>Broadcast</th>
                <th>Duration</th>
                <th>Size</th>
                <th>Video</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((r) => (
                <Row
                  key={r.id}
                  r={r}
                  playing={playing?.id === r.id}
                  play={() => setPlaying(r)}
                  deleted={() => {
                    if (playing?.id === r.id) setPlaying(null);
                    list.reload();
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
