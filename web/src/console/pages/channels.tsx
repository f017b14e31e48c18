// Channels: the list, creating one, and (in channel.tsx) a channel's own page.
import { api, call, type Schemas } from "../../api/client";
import { PAGE_SIZE, Pager, paged } from "../paging";
import { navigate, useLocation } from "../router";
import { useMe } from "../session";
import { offsetOf, setQuery } from "./admin/parts";
import { ErrorText, Loading, Page, formValues, useAction, useLoad } from "../ui";

export { ChannelPage } from "./channel";

export type ChannelView = Schemas["ChannelView"];
export const VISIBILITIES: { value: Schemas["Visibility"]; text: string }[] = [
  { value: "public", text: "Public: anyone" },
  { value: "authenticated", text: "Signed-in users" },
  { value: "private", text: "Private: owner and granted users" },
  { value: "signed", text: "Signed links only" },
];

export function LiveBadge({ live, banned }: { live: boolean; banned?: boolean }) {
  if (banned) return <span class="badge off">banned</span>;
  return live ? <span class="badge live">live</span> : <span class="badge off">offline</span>;
}

function NewChannel({ done }: { done: (id: string) => void }) {
  const act = useAction();
  const submit = (e: Event) => {
    const v = formValues(e);
    void act.run(async () => {
      const c = await call(
        api.POST("/api/v1/channels", {
          body: { slug: v.slug, title: v.title, visibility: v.visibility as Schemas["Visibility"] },
        }),
      );
      done(c.id);
    });
  };
  return (
    <form id="new-channel" class="panel" onSubmit={submit}>
      <h3>New channel</h3>
      <label>
        Name in URLs (slug){" "}
        {/* The server's rule (`is_valid_channel_name`); `-` escaped for the `v` flag browsers now
            compile patterns with. */}
        <input name="slug" required maxLength={64} pattern="[A-Za-z0-9_\-]{1,64}" title={SLUG_RULE} placeholder="my-show" />
        <span class="muted">{SLUG_RULE}. It names the stream in the watch address and the stream key's channel.</span>
      </label>
      <label>
        Title <input name="title" required />
      </label>
      <label>
        Who may watch
        <select name="visibility">
          {VISIBILITIES.map((v) => (
            <option value={v.value}>{v.text}</option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={act.busy}>
        Create channel
      </button>
      <ErrorText error={act.error} />
    </form>
  );
}

/** What a channel name may be, as the server checks it. */
export const SLUG_RULE = "1 to 64 letters, digits, _ or -";

/** Why a viewer has no "New channel" form, and how to get one (issue #12: sign-up made
 * viewers who were refused with no way forward). */
export function ViewerNote() {
  const node = useLoad(() => call(api.GET("/api/v1/node")));
  return (
    <div class="panel" id="viewer-note">
      <h3>Want to broadcast?</h3>
      <p>
        Your account is a <b>viewer</b>: you can watch public channels and the ones shared with you. Creating channels and
        connecting encoders needs the <b>broadcaster</b> role, which an administrator of this server gives on its Users page: ask
        them to make you a broadcaster.
      </p>
      {node.data && (
        <p class="muted small" id="signup-policy">
          On this server new accounts start as {node.data.signup_role === "broadcaster" ? "broadcasters" : "viewers"}.
        </p>
      )}
    </div>
  );
}

export function Channels() {
  const me = useMe();
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const offset = offsetOf(query);
  const list = useLoad(
    () =>
      call(api.GET("/api/v1/channels", { params: { query: { q: q || undefined, limit: PAGE_SIZE + 1, offset } } })).then((r) => ({
        ...paged(r.items),
        key: query.toString(),
      })),
    [q, offset],
  );
  return (
    <Page title="Channels">
      {me?.role === "viewer" ? <ViewerNote /> : <NewChannel done={(id) => navigate(`/console/channels/${id}`)} />}
      <form
        id="channel-search"
        class="inline"
        key={q}
        onSubmit={(e) => {
          const v = formValues(e);
          setQuery({ q: v.q.trim() });
        }}
      >
        <label>
          Search <input name="q" type="search" placeholder="name or title" defaultValue={q} />
        </label>
        <button type="submit">Search</button>
        {q && <a href="/console/channels">Clear</a>}
      </form>
      {!list.data ? (
        <Loading error={list.error} />
      ) : (
        <div id="channels-results" data-query={list.data.key}>
          {list.data.items.length === 0 ? (
            <p class="muted" id="channels-empty">
              {q ? "No channel matches." : "No channels yet."}
            </p>
          ) : (
            <div class="table-wrap">
              <table id="channels" class="stack">
                <thead>
                  <tr>
                    <th>Channel</th>
                    <th>State</th>
                    <th>Who may watch</th>
                    <th>Recording</th>
                    <th>Viewers</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.items.map((c) => (
                    <tr data-channel={c.slug}>
                      <td>
                        <a href={`/console/channels/${c.id}`}>{c.title}</a> <span class="muted">/{c.slug}</span>
                      </td>
                      <td data-label="State">
                        <LiveBadge live={c.live} banned={c.banned} />
                      </td>
                      <td data-label="Who may watch">{c.visibility}</td>
                      <td data-label="Recording">{c.record ? "on" : "off"}</td>
                      <td data-label="Viewers">{c.viewers}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager name="channels" offset={offset} count={list.data.items.length} more={list.data.more} go={(o) => setQuery({ q, offset: o })} />
        </div>
      )}
    </Page>
  );
}
