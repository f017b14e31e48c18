// Console sessions: where the account is signed in; sign one out, or every other one.
import { useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { ErrorText, Loading, fmtMs, useAction, useLoad } from "../ui";

type SessionView = Schemas["SessionView"];

function SessionRow({ s, onRevoked }: { s: SessionView; onRevoked: () => void }) {
  const { busy, error, run } = useAction();
  return (
    <tr data-session-id={s.id} data-current={s.current ? "true" : "false"}>
      <td>
        {s.user_agent || "unknown browser"}
        {s.current && <span class="badge ok"> this session</span>}
      </td>
      <td>{s.ip || "—"}</td>
      <td>{fmtMs(s.created_at)}</td>
      <td>{fmtMs(s.last_seen_at)}</td>
      <td>{fmtMs(s.expires_at)}</td>
      <td>
        {!s.current && (
          <button
            type="button"
            class="danger"
            name="revoke-session"
            disabled={busy}
            onClick={() =>
              run(() => call(api.DELETE("/api/v1/me/sessions/{id}", { params: { path: { id: s.id } } }))).then(
                (ok) => ok && onRevoked(),
              )
            }
          >
            Sign out
          </button>
        )}
        <ErrorText error={error} />
      </td>
    </tr>
  );
}

/** Signs out every other session and revokes every access token, after a second click. */
function RevokeOthers({ onDone }: { onDone: () => void }) {
  const { busy, error, run } = useAction();
  const [asking, setAsking] = useState(false);
  const [result, setResult] = useState("");
  const revoke = () =>
    run(async () => {
      const r = await call(api.POST("/api/v1/me/sessions/revoke-all", { body: { keep_current: true } }));
      setAsking(false);
      setResult(`Signed out everywhere else (${r.revoked} revoked).`);
      onDone();
    });
  return (
    <div>
      {asking ? (
        <p class="row">
          This signs out every other session and revokes all your access tokens.
          <button type="button" class="danger" id="revoke-others-confirm" disabled={busy} onClick={revoke}>
            Sign out everywhere else
          </button>
          <button type="button" class="link" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </p>
      ) : (
        <button type="button" id="revoke-others" onClick={() => (setResult(""), setAsking(true))}>
          Sign out all other sessions…
        </button>
      )}
      <ErrorText error={error} />
      {result && (
        <p id="revoke-others-done" class="ok" role="status">
          {result}
        </p>
      )}
    </div>
  );
}

export function Sessions({ epoch, onChanged }: { epoch: number; onChanged: () => void }) {
  const { data, error, reload } = useLoad(() => call(api.GET("/api/v1/me/sessions")), [epoch]);
  return (
    <section class="panel" id="sessions">
      <h3>Signed-in sessions</h3>
      {!data ? (
        <Loading error={error} />
      ) : (
        <div class="table-wrap">
          <table id="session-list" class="stack">
            <thead>
              <tr>
                <th>Browser</th>
                <th>IP address</th>
                <th>Signed in</th>
                <th>Last seen</th>
                <th>Expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.items.map((s) => (
                <SessionRow key={s.id} s={s} onRevoked={reload} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <RevokeOthers onDone={onChanged} />
    </section>
  );
}
