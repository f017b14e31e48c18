// Channels: the list, creating one, and (in channel.tsx) a channel's own page.
import { api, call, type Schemas } from "../../api/client";
import { navigate } from "../router";
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
        Name in URLs (slug) <input name="slug" required pattern="[a-z0-9][a-z0-9_-]*" placeholder="my-show" />
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

export function Channels() {
  const { data, error } = useLoad(() => call(api.GET("/api/v1/channels", { params: { query: { limit: 200 } } })));
  return (
    <Page title="Channels">
      <NewChannel done={(id) => navigate(`/console/channels/${id}`)} />
      {!data ? (
        <Loading error={error} />
      ) : data.items.length === 0 ? (
        <p class="muted">No channels yet.</p>
      ) : (
        <div class="table-wrap">
          <table id="channels">
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
              {data.items.map((c) => (
                <tr data-channel={c.slug}>
                  <td>
                    <a href={`/console/channels/${c.id}`}>{c.title}</a> <span class="muted">/{c.slug}</span>
                  </td>
                  <td>
                    <LiveBadge live={c.live} banned={c.banned} />
                  </td>
                  <td>{c.visibility}</td>
                  <td>{c.record ? "on" : "off"}</td>
                  <td>{c.viewers}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Page>
  );
}
