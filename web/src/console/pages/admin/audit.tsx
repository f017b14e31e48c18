// The audit log (admins see every entry): filters by actor, action, target and time range, all
// kept in the URL query so a filtered view can be linked; newest first, paged.
import { api, call, type Schemas } from "../../../api/client";
import { useLocation } from "../../router";
import { ErrorText, Loading, Page, formValues, useLoad } from "../../ui";
import { PAGE_SIZE, Pager, fmtMs, fromLocalInput, msParam, offsetOf, paged, setQuery, toLocalInput } from "./parts";

type Entry = Schemas["AuditEntry"];

const TEXT_FILTERS = ["actor", "action", "target_type", "target_id"] as const;
type Filters = Record<(typeof TEXT_FILTERS)[number], string> & { since: number | null; until: number | null };

/** Suggestions for the action filter (any text is accepted). */
const ACTIONS = [
  "user.login",
  "user.logout",
  "user.signup",
  "user.create",
  "user.update",
  "user.role_change",
  "user.disable",
  "user.enable",
  "user.password_set",
  "user.password_change",
  "user.password_reset",
  "user.totp_enable",
  "user.totp_disable",
  "user.totp_clear",
  "token.create",
  "token.revoke",
  "channel.create",
  "channel.update",
  "channel.delete",
  "channel.ban",
  "channel.resume",
  "channel.kick",
  "channel.grant",
  "channel.revoke_grant",
  "channel.playback_url",
  "device.create",
  "device.update",
  "device.delete",
  "device.disable",
  "device.enable",
  "device.rotate_key",
  "device.kick",
  "publish.start",
  "publish.stop",
  "recording.delete",
  "webhook.create",
  "webhook.update",
  "webhook.enable",
  "webhook.disable",
  "webhook.delete",
  "webhook.test",
];
const TARGET_TYPES = ["user", "channel", "device", "webhook", "token", "recording"];

function filtersOf(query: URLSearchParams): Filters {
  const f = { since: msParam(query, "since"), until: msParam(query, "until") } as Filters;
  for (const k of TEXT_FILTERS) f[k] = query.get(k) ?? "";
  return f;
}

/** A link to the log filtered by `params` (and nothing else). */
function filterHref(params: Record<string, string>): string {
  return `/console/admin/audit?${new URLSearchParams(params)}`;
}

function EntryRow({ e }: { e: Entry }) {
  return (
    <tr data-audit-id={e.id} data-action={e.action} data-actor={e.actor} data-target-type={e.target_type ?? ""} data-target-id={e.target_id ?? ""} data-result={e.result}>
      <td class="nowrap">{fmtMs(e.at)}</td>
      <td>
        <a href={filterHref({ actor: e.actor_id || e.actor })} title="Only this actor">
          {e.actor}
        </a>
      </td>
      <td>
        <a href={filterHref({ action: e.action })} title="Only this action">
          {e.action}
        </a>
      </td>
      <td data-label="Target" data-field="target">
        {e.target_type ? (
          // The target by its current name; its id (for the filter and deleted targets) on hover.
          <a
            href={filterHref(e.target_id ? { target_type: e.target_type, target_id: e.target_id } : { target_type: e.target_type })}
            title={e.target_id ? `${e.target_type} ${e.target_id} — only this target` : "Only this target"}
          >
            {e.target_type} {e.target_name ?? (e.target_id ? <span class="muted">{e.target_id} (deleted)</span> : "")}
          </a>
        ) : (
          "—"
        )}
      </td>
      <td>
        <span class={`badge ${e.result === "ok" ? "ok" : "off"}`}>{e.result}</span>
      </td>
      <td data-label="IP">{e.ip ?? ""}</td>
      <td class="detail-text">{e.detail ?? ""}</td>
    </tr>
  );
}

export function AdminAudit() {
  const { query } = useLocation();
  const f = filtersOf(query);
  const offset = offsetOf(query);
  const key = query.toString();
  const list = useLoad(
    () =>
      call(
        api.GET("/api/v1/audit", {
          params: {
            query: {
              actor: f.actor || undefined,
              action: f.action || undefined,
              target_type: f.target_type || undefined,
              target_id: f.target_id || undefined,
              since: f.since ?? undefined,
              until: f.until ?? undefined,
              limit: PAGE_SIZE + 1,
              offset,
            },
          },
        }),
      ).then((r) => ({ ...paged(r.items), key })),
    [key],
  );
  const filtered = TEXT_FILTERS.some((k) => f[k]) || f.since !== null || f.until !== null;
  const go = (o: number) => setQuery({ ...f, offset: o });
  return (
    <Page
      title="Audit log"
      actions={
        <button type="button" id="audit-refresh" onClick={list.reload}>
          Refresh
        </button>
      }
    >
      <form
        id="audit-filter"
        class="inline"
        key={key}
        onSubmit={(e) => {
          const v = formValues(e);
          setQuery({
            actor: v.actor.trim(),
            action: v.action.trim(),
            target_type: v.target_type.trim(),
            target_id: v.target_id.trim(),
            since: fromLocalInput(v.since),
            until: fromLocalInput(v.until),
          });
        }}
      >
        <label>
          Actor <input name="actor" placeholder="e-mail or user id" defaultValue={f.actor} />
        </label>
        <label>
          Action <input name="action" list="audit-actions" placeholder="e.g. user.login" defaultValue={f.action} />
        </label>
        <label>
          Target type <input name="target_type" list="audit-target-types" size={10} defaultValue={f.target_type} />
        </label>
        <label>
          Target id <input name="target_id" defaultValue={f.target_id} />
        </label>
        <label>
          From <input name="since" type="datetime-local" defaultValue={toLocalInput(f.since)} />
        </label>
        <label>
          Until <input name="until" type="datetime-local" defaultValue={toLocalInput(f.until)} />
        </label>
        <button type="submit">Filter</button>
        {filtered && (
          <a href="/console/admin/audit" id="audit-clear">
            Clear
          </a>
        )}
        <datalist id="audit-actions">
          {ACTIONS.map((a) => (
            <option value={a} />
          ))}
        </datalist>
        <datalist id="audit-target-types">
          {TARGET_TYPES.map((t) => (
            <option value={t} />
          ))}
        </datalist>
      </form>
      {list.data ? (
        <div id="audit-results" data-query={list.data.key}>
          <ErrorText error={list.error} />
          {list.data.items.length === 0 ? (
            <p class="muted" id="audit-empty">
              {filtered ? "No entry matches these filters." : "The log is empty."}
            </p>
          ) : (
            <div class="table-wrap">
              <table id="audit" class="stack">
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Actor</th>
                    <th>Action</th>
                    <th>Target</th>
                    <th>Result</th>
                    <th>IP</th>
                    <th>Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.items.map((e) => (
                    <EntryRow key={e.id} e={e} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager name="audit" offset={offset} count={list.data.items.length} more={list.data.more} go={go} />
        </div>
      ) : (
        <Loading error={list.error} />
      )}
    </Page>
  );
}
