// Personal access tokens: for scripts and tools calling the API with
// `Authorization: Bearer …`. The server stores only a digest, so a new token is shown once.
import { useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { Copyable, ErrorText, FieldError, Loading, fmtMs, useAction, useFormAction, useLoad } from "../ui";

type Token = Schemas["ApiToken"];

const EXPIRY_DAYS = [7, 30, 90, 365];

function CreateToken({ onCreated }: { onCreated: (t: Schemas["CreatedToken"]) => void }) {
  const { busy, error, fields, run } = useFormAction();
  const submit = (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const days = String(data.get("expires_in_days") ?? "");
    void run(async () => {
      const created = await call(
        api.POST("/api/v1/me/tokens", {
          body: {
            name: String(data.get("name") ?? ""),
            scopes: data.getAll("scope").map(String),
            ...(days ? { expires_in_days: Number(days) } : {}),
          },
        }),
      );
      // Only the name: the next token likely wants the same scopes and lifetime.
      (form.elements.namedItem("name") as HTMLInputElement).value = "";
      onCreated(created);
    });
  };
  return (
    <form id="token-create" onSubmit={submit}>
      <label>
        Name <input name="name" required maxLength={100} placeholder="e.g. deploy script" />
        <FieldError errors={fields} field="name" />
      </label>
      <fieldset class="row">
        <legend>Scopes</legend>
        <label class="check">
          <input type="checkbox" name="scope" value="read" defaultChecked /> read (GET requests)
        </label>
        <label class="check">
          <input type="checkbox" name="scope" value="write" /> write (everything else)
        </label>
        <FieldError errors={fields} field="scopes" />
      </fieldset>
      <label>
        Expires
        <select name="expires_in_days">
          {EXPIRY_DAYS.map((d) => (
            <option key={d} value={String(d)} selected={d === 90}>
              in {d} days
            </option>
          ))}
          <option value="">never</option>
        </select>
        <FieldError errors={fields} field="expires_in_days" />
      </label>
      <button type="submit" disabled={busy}>
        Create token
      </button>
      <ErrorText error={error} />
    </form>
  );
}

function TokenRow({ t, onRevoked }: { t: Token; onRevoked: () => void }) {
  const { busy, error, run } = useAction();
  const expired = t.expires_at != null && t.expires_at < Date.now();
  return (
    <tr data-token-id={t.id} data-token-name={t.name}>
      <td>{t.name}</td>
      <td class="secret">{t.prefix}…</td>
      <td>{t.scopes.join(", ")}</td>
      <td>{fmtMs(t.created_at)}</td>
      <td>{t.last_used_at ? fmtMs(t.last_used_at) : "never"}</td>
      <td>{t.expires_at ? (expired ? <span class="badge off">expired</span> : fmtMs(t.expires_at)) : "never"}</td>
      <td>
        <button
          type="button"
          class="danger"
          name="revoke-token"
          disabled={busy}
          onClick={() => run(() => call(api.DELETE("/api/v1/me/tokens/{id}", { params: { path: { id: t.id } } }))).then((ok) => ok && onRevoked())}
        >
          Revoke
        </button>
        <ErrorText error={error} />
      </td>
    </tr>
  );
}

export function Tokens({ epoch }: { epoch: number }) {
  const { data, error, reload } = useLoad(() => call(api.GET("/api/v1/me/tokens")), [epoch]);
  const [created, setCreated] = useState<Schemas["CreatedToken"] | null>(null);
  return (
    <section class="panel" id="tokens">
      <h3>Personal access tokens</h3>
      <p class="muted">
        For scripts and tools: send <code>Authorization: Bearer &lt;token&gt;</code> to the <a href="/api/docs">API</a>.
        A token acts as you, within its scopes.
      </p>
      {created && (
        <div id="token-created" class="panel" role="status">
          <p class="ok">
            Token “{created.name}” created. Copy it now: it is not shown again.
          </p>
          <Copyable label="New token" name="new-token" value={created.token} />
          <button type="button" id="token-created-done" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      {!data ? (
        <Loading error={error} />
      ) : data.items.length === 0 ? (
        <p class="muted" id="tokens-empty">
          You have no access tokens.
        </p>
      ) : (
        <div class="table-wrap">
          <table id="token-list" class="stack">
            <thead>
              <tr>
                <th>Name</th>
                <th>Starts with</th>
                <th>Scopes</th>
                <th>Created</th>
                <th>Last used</th>
                <th>Expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.items.map((t) => (
                <TokenRow key={t.id} t={t} onRevoked={reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h4>New token</h4>
      <CreateToken
        onCreated={(t) => {
          setCreated(t);
          reload();
        }}
      />
    </section>
  );
}
