// Webhooks (admins see every endpoint): create (the signing secret is shown once), enable or
// disable, edit, delete, send a test event; an endpoint's page shows its delivery log.
import { useEffect, useState } from "preact/hooks";
import { api, call, type Schemas } from "../../../api/client";
import { navigate, useLocation } from "../../router";
import { Copyable, ErrorText, Loading, Page, useAction, useLoad } from "../../ui";
import { Confirm, PAGE_SIZE, Pager, WEBHOOK_EVENTS, fmtMs, offsetOf, paged, setQuery } from "./parts";

type Webhook = Schemas["Webhook"];
type Delivery = Schemas["WebhookDelivery"];

/** Seconds between automatic refreshes of the delivery log. */
const DELIVERY_REFRESH_S = 5;

/** E-mail addresses of owners, looked up once per page load. */
const owners = new Map<string, Promise<string>>();
function ownerEmail(id: string): Promise<string> {
  let p = owners.get(id);
  if (!p) {
    p = call(api.GET("/api/v1/users/{id}", { params: { path: { id } } })).then(
      (u) => u.email,
      () => id,
    );
    owners.set(id, p);
  }
  return p;
}

function Owner({ id }: { id: string }) {
  const [email, setEmail] = useState(id);
  useEffect(() => {
    let live = true;
    void ownerEmail(id).then((e) => live && setEmail(e));
    return () => {
      live = false;
    };
  }, [id]);
  return <span data-owner-id={id}>{email}</span>;
}

/** The events checked in a form's `events` checkboxes. */
function checkedEvents(form: HTMLFormElement): string[] {
  return new FormData(form).getAll("events").map(String);
}

function EventChecks({ selected }: { selected: string[] }) {
  return (
    <fieldset class="events">
      <legend>Events</legend>
      {WEBHOOK_EVENTS.map((ev) => (
        <label class="check">
          <input type="checkbox" name="events" value={ev} defaultChecked={selected.includes(ev)} />
          {ev}
        </label>
      ))}
    </fieldset>
  );
}

/** "Send test event": the delivery shows up in the endpoint's log within a moment. */
function useTest(id: string) {
  const act = useAction();
  const [sent, setSent] = useState<Schemas["TestSent"] | null>(null);
  const send = (event?: string) =>
    act.run(async () => {
      setSent(null);
      setSent(await call(api.POST("/api/v1/webhooks/{id}/test", { params: { path: { id } }, body: event ? { event } : {} })));
    });
  return { ...act, sent, send };
}

function WebhookRows({ w, updated, removed }: { w: Webhook; updated: (w: Webhook) => void; removed: () => void }) {
  const act = useAction();
  const test = useTest(w.id);
  const [confirming, setConfirming] = useState(false);
  const path = { params: { path: { id: w.id } } };
  const toggle = () =>
    act.run(async () => updated(await call(api.PATCH("/api/v1/webhooks/{id}", { ...path, body: { enabled: !w.enabled } }))));
  const remove = () =>
    act.run(async () => {
      await call(api.DELETE("/api/v1/webhooks/{id}", path));
      setConfirming(false);
      removed();
    });
  const href = `/console/admin/webhooks/${encodeURIComponent(w.id)}`;
  return (
    <tbody data-webhook-id={w.id} data-url={w.url} data-enabled={String(w.enabled)}>
      <tr>
        <td class="url">
          <a href={href}>{w.url}</a>
        </td>
        <td data-label="Events">{w.events.join(", ")}</td>
        <td>
          <span class={`badge ${w.enabled ? "ok" : "off"}`} data-field="enabled">
            {w.enabled ? "enabled" : "disabled"}
          </span>
        </td>
        <td>
          <Owner id={w.owner_id} />
        </td>
        <td data-label="Created">{fmtMs(w.created_at)}</td>
        <td>
          <span class="row actions">
            <button type="button" data-action={w.enabled ? "disable" : "enable"} disabled={act.busy} onClick={toggle}>
              {w.enabled ? "Disable" : "Enable"}
            </button>
            <button type="button" data-action="test" disabled={test.busy} onClick={() => test.send()}>
              Send test
            </button>
            <a href={href}>Deliveries</a>
            <button type="button" class="danger" data-action="delete" disabled={act.busy} onClick={() => setConfirming(true)}>
              Delete
            </button>
          </span>
        </td>
      </tr>
      {(confirming || act.error || test.error || test.sent) && (
        <tr class="detail">
          <td colSpan={6}>
            {confirming && (
              <Confirm name="delete" busy={act.busy} label="Delete" onCancel={() => setConfirming(false)} onConfirm={remove}>
                Delete the webhook to {w.url} and its delivery log?
              </Confirm>
            )}
            {test.sent && (
              <p class="ok" data-test-sent={test.sent.event_id}>
                Test {test.sent.event} sent. <a href={href}>See its delivery</a>.
              </p>
            )}
            <ErrorText error={act.error || test.error} />
          </td>
        </tr>
      )}
    </tbody>
  );
}

function CreateWebhook({ created }: { created: () => void }) {
  const act = useAction();
  const [made, setMade] = useState<Schemas["WebhookWithSecret"] | null>(null);
  return (
    <section class="panel">
      <h3>New webhook</h3>
      <form
        id="webhook-create"
        onSubmit={(e) => {
          e.preventDefault();
          const form = e.target as HTMLFormElement;
          const url = (form.elements.namedItem("url") as HTMLInputElement).value.trim();
          const events = checkedEvents(form);
          void act.run(async () => {
            setMade(null);
            setMade(await call(api.POST("/api/v1/webhooks", { body: { url, events } })));
            form.reset();
            created();
          });
        }}
      >
        <label>
          URL <input name="url" type="url" required placeholder="https://example.com/onair-hook" />
        </label>
        <EventChecks selected={[...WEBHOOK_EVENTS]} />
        <button type="submit" disabled={act.busy}>
          Create webhook
        </button>
        <ErrorText error={act.error} />
      </form>
      {made && (
        <div id="webhook-secret" data-webhook-id={made.id}>
          <p>
            Created the webhook to <a href={`/console/admin/webhooks/${encodeURIComponent(made.id)}`}>{made.url}</a>. Its signing secret (the
            HMAC-SHA256 key of the <code>OnAir-Signature</code> header) is shown only now: store it.
          </p>
          <Copyable label="Signing secret" name="webhook-secret" value={made.secret} />
        </div>
      )}
    </section>
  );
}

export function AdminWebhooks() {
  const { query } = useLocation();
  const offset = offsetOf(query);
  const list = useLoad(
    () => call(api.GET("/api/v1/webhooks", { params: { query: { limit: PAGE_SIZE + 1, offset } } })).then((r) => paged(r.items)),
    [offset],
  );
  const updated = (w: Webhook) => list.setData((d) => d && { ...d, items: d.items.map((x) => (x.id === w.id ? w : x)) });
  return (
    <Page title="Webhooks">
      <p class="muted">
        Endpoints receive signed POSTs for <code>publish.started</code>, <code>publish.stopped</code> and <code>record.done</code>. Admins see
        every user's endpoints.
      </p>
      <CreateWebhook created={list.reload} />
      {list.data ? (
        <>
          <ErrorText error={list.error} />
          {list.data.items.length === 0 ? (
            <p class="muted" id="webhooks-empty">
              No webhooks.
            </p>
          ) : (
            <div class="table-wrap">
              <table id="webhooks" class="stack">
                <thead>
                  <tr>
                    <th>URL</th>
                    <th>Events</th>
                    <th>State</th>
                    <th>Owner</th>
                    <th>Created</th>
                    <th>Actions</th>
                  </tr>
                </thead>
                {list.data.items.map((w) => (
                  <WebhookRows key={w.id} w={w} updated={updated} removed={list.reload} />
                ))}
              </table>
            </div>
          )}
          <Pager name="webhooks" offset={offset} count={list.data.items.length} more={list.data.more} go={(o) => setQuery({ offset: o })} />
        </>
      ) : (
        <Loading error={list.error} />
      )}
    </Page>
  );
}

function DeliveryRow({ d }: { d: Delivery }) {
  const outcome = d.succeeded ? "delivered" : d.final ? "failed" : "will retry";
  return (
    <tr
      data-delivery-id={d.id}
      data-event-id={d.event_id}
      data-event={d.event_kind}
      data-status={d.status ?? ""}
      data-succeeded={String(d.succeeded)}
      data-attempt={d.attempt}
      data-test={String(d.test)}
    >
      <td class="nowrap">{fmtMs(d.at)}</td>
      <td>
        {d.event_kind} {d.test && <span class="badge" title="Sent with “Send test”: channel test, not a real broadcast">test</span>}
        <br />
        <span class="muted small">{d.event_id}</span>
      </td>
      <td data-label="Attempt">{d.attempt}</td>
      <td data-field="status" data-label="HTTP status">{d.status ?? "—"}</td>
      <td>
        <span class={`badge ${d.succeeded ? "ok" : "off"}`}>{outcome}</span>
      </td>
      <td data-label="Took">{d.duration_ms} ms</td>
      <td class="error">{d.error ?? ""}</td>
    </tr>
  );
}

function Deliveries({ id, bump }: { id: string; bump: number }) {
  const { query } = useLocation();
  const offset = offsetOf(query);
  const [auto, setAuto] = useState(true);
  const [at, setAt] = useState<number | null>(null);
  const list = useLoad(
    () =>
      call(api.GET("/api/v1/webhooks/{id}/deliveries", { params: { path: { id }, query: { limit: PAGE_SIZE + 1, offset } } })).then((r) => {
        setAt(Date.now());
        return paged(r.items);
      }),
    [id, offset, bump],
  );
  useEffect(() => {
    if (!auto) return;
    const t = setInterval(list.reload, DELIVERY_REFRESH_S * 1000);
    return () => clearInterval(t);
  }, [auto, list.reload]);
  return (
    <section class="panel" id="deliveries-panel">
      <header class="page-head">
        <h3>Delivery log</h3>
        <span class="row">
          <label class="check">
            <input type="checkbox" id="deliveries-auto" checked={auto} onChange={(e) => setAuto((e.target as HTMLInputElement).checked)} />
            every {DELIVERY_REFRESH_S} s
          </label>
          <button type="button" id="deliveries-refresh" onClick={list.reload}>
            Refresh
          </button>
        </span>
      </header>
      {at && <p class="muted small">Updated {new Date(at).toLocaleTimeString()}</p>}
      {list.data ? (
        <>
          <ErrorText error={list.error} />
          {list.data.items.length === 0 ? (
            <p class="muted" id="deliveries-empty">
              Nothing delivered yet. Send a test event to try the endpoint.
            </p>
          ) : (
            <div class="table-wrap">
              <table id="deliveries" class="stack">
                <thead>
                  <tr>
                    <th>Time</th>
                    <th>Event</th>
                    <th>Attempt</th>
                    <th>Response</th>
                    <th>Outcome</th>
                    <th>Took</th>
                    <th>Error</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.items.map((d) => (
                    <DeliveryRow key={d.id} d={d} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager name="deliveries" offset={offset} count={list.data.items.length} more={list.data.more} go={(o) => setQuery({ offset: o })} />
        </>
      ) : (
        <Loading error={list.error} />
      )}
    </section>
  );
}

export function AdminWebhook({ id }: { id: string }) {
  const hook = useLoad(() => call(api.GET("/api/v1/webhooks/{id}", { params: { path: { id } } })), [id]);
  const act = useAction();
  const test = useTest(id);
  const [saved, setSaved] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [bump, setBump] = useState(0);
  const path = { params: { path: { id } } };
  // A test delivery takes a moment: look again shortly after sending one.
  useEffect(() => {
    if (!test.sent) return;
    const ts = [800, 2500].map((ms) => setTimeout(() => setBump((n) => n + 1), ms));
    return () => ts.forEach(clearTimeout);
  }, [test.sent]);
  const w = hook.data;
  if (!w) {
    return (
      <Page title="Webhook">
        <Loading error={hook.error} />
        <p>
          <a href="/console/admin/webhooks">All webhooks</a>
        </p>
      </Page>
    );
  }
  const patch = (body: Schemas["UpdateWebhook"]) =>
    act.run(async () => {
      setSaved(false);
      hook.setData(await call(api.PATCH("/api/v1/webhooks/{id}", { ...path, body })));
      setSaved(true);
    });
  return (
    <Page
      title="Webhook"
      actions={
        <a href="/console/admin/webhooks" id="webhooks-back">
          All webhooks
        </a>
      }
    >
      <div id="webhook" data-webhook-id={w.id} data-enabled={String(w.enabled)} data-url={w.url}>
        <dl class="facts">
          <dt>URL</dt>
          <dd class="url">{w.url}</dd>
          <dt>Events</dt>
          <dd data-field="events">{w.events.join(", ")}</dd>
          <dt>State</dt>
          <dd>
            <span class={`badge ${w.enabled ? "ok" : "off"}`} data-field="enabled">
              {w.enabled ? "enabled" : "disabled"}
            </span>
          </dd>
          <dt>Owner</dt>
          <dd>
            <Owner id={w.owner_id} />
          </dd>
          <dt>Created</dt>
          <dd>{fmtMs(w.created_at)}</dd>
          <dt>Changed</dt>
          <dd>{fmtMs(w.updated_at)}</dd>
        </dl>
        <div class="row">
          <button type="button" id="webhook-toggle" data-action={w.enabled ? "disable" : "enable"} disabled={act.busy} onClick={() => patch({ enabled: !w.enabled })}>
            {w.enabled ? "Disable" : "Enable"}
          </button>
          <form
            class="inline"
            id="webhook-test-form"
            onSubmit={(e) => {
              e.preventDefault();
              void test.send((new FormData(e.target as HTMLFormElement).get("event") as string) || undefined);
            }}
          >
            <select name="event" aria-label="Test event" key={w.events.join()}>
              {w.events.map((ev) => (
                <option value={ev}>{ev}</option>
              ))}
            </select>
            <button type="submit" id="webhook-test" disabled={test.busy}>
              Send test event
            </button>
          </form>
          <button type="button" class="danger" id="webhook-delete" disabled={act.busy} onClick={() => setConfirming(true)}>
            Delete
          </button>
        </div>
        {confirming && (
          <Confirm
            name="delete"
            busy={act.busy}
            label="Delete"
            onCancel={() => setConfirming(false)}
            onConfirm={() =>
              act.run(async () => {
                await call(api.DELETE("/api/v1/webhooks/{id}", path));
                navigate("/console/admin/webhooks");
              })
            }
          >
            Delete this webhook and its delivery log?
          </Confirm>
        )}
        {test.sent && (
          <p class="ok" id="webhook-test-sent" data-event-id={test.sent.event_id}>
            Test {test.sent.event} sent (event {test.sent.event_id}); its delivery appears below.
          </p>
        )}
        <ErrorText error={act.error || test.error} />
        <details class="panel" id="webhook-edit-panel">
          <summary>Edit</summary>
          <form
            id="webhook-edit"
            key={w.updated_at}
            onSubmit={(e) => {
              e.preventDefault();
              const form = e.target as HTMLFormElement;
              const url = (form.elements.namedItem("url") as HTMLInputElement).value.trim();
              void patch({ url, events: checkedEvents(form) });
            }}
          >
            <label>
              URL <input name="url" type="url" required defaultValue={w.url} />
            </label>
            <EventChecks selected={w.events} />
            <button type="submit" disabled={act.busy}>
              Save
            </button>
            {saved && (
              <p class="ok" id="webhook-saved">
                Saved.
              </p>
            )}
          </form>
        </details>
      </div>
      <Deliveries id={id} bump={bump} />
    </Page>
  );
}
