// Users (admins): search and filter by role and status, create, change role, disable/enable,
// set a new password, clear two-factor sign-in. Destructive changes go through a confirm step.
import { useState } from "preact/hooks";
import { api, call, type Schemas } from "../../../api/client";
import { useLocation } from "../../router";
import { refreshMe, useMe } from "../../session";
import { ErrorText, Loading, Page, formValues, useAction, useLoad } from "../../ui";
import { Confirm, PAGE_SIZE, Pager, ROLES, fmtMs, offsetOf, paged, setQuery } from "./parts";

type User = Schemas["UserView"];
type Role = Schemas["Role"];
type Status = Schemas["UserStatus"];
const STATUSES: Status[] = ["active", "pending", "disabled"];

/** What a row is asking to confirm. */
type Pending = { kind: "role"; role: Role } | { kind: "disable" } | { kind: "clear-totp" } | { kind: "password" };

function UserRows({ u, self, updated, reload }: { u: User; self: boolean; updated: (u: User) => void; reload: () => void }) {
  const [pending, setPending] = useState<Pending | null>(null);
  const [done, setDone] = useState("");
  const act = useAction();
  const path = { params: { path: { id: u.id } } };
  const patch = (body: Schemas["UpdateUser"], what: string) =>
    act.run(async () => {
      updated(await call(api.PATCH("/api/v1/users/{id}", { ...path, body })));
      // Your own role or status decides what the console offers you.
      if (self) await refreshMe();
      setPending(null);
      setDone(what);
    });
  const ask = (p: Pending | null) => {
    setPending(p);
    setDone("");
    act.setError("");
  };
  const who = u.display_name ? `${u.display_name} <${u.email}>` : u.email;
  const shownRole = pending?.kind === "role" ? pending.role : u.role;
  return (
    <tbody data-user-id={u.id} data-email={u.email} data-role={u.role} data-status={u.status} data-totp={String(u.totp_enabled)}>
      <tr>
        <td>
          {u.email} {self && <span class="badge">you</span>}
          {!u.email_verified && <span class="muted"> (unverified)</span>}
        </td>
        <td data-label="Name">{u.display_name}</td>
        <td data-label="Role">
          <select
            name="role"
            aria-label={`Role of ${u.email}`}
            value={shownRole}
            disabled={act.busy}
            onChange={(e) => {
              const role = (e.target as HTMLSelectElement).value as Role;
              ask(role === u.role ? null : { kind: "role", role });
            }}
          >
            {ROLES.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </td>
        <td>
          <span class={`badge ${u.status === "active" ? "ok" : "off"}`} data-field="status">
            {u.status}
          </span>
        </td>
        <td data-field="totp" data-label="2FA">{u.totp_enabled ? "on" : "off"}</td>
        <td data-label="Created">{fmtMs(u.created_at)}</td>
        <td>
          <span class="row actions">
            {u.status !== "active" && (
              <button type="button" data-action="enable" disabled={act.busy} onClick={() => patch({ status: "active" }, "Enabled.")}>
                {u.status === "pending" ? "Activate" : "Enable"}
              </button>
            )}
            {u.status !== "disabled" && (
              <button type="button" class="danger" data-action="disable" disabled={act.busy} onClick={() => ask({ kind: "disable" })}>
                Disable
              </button>
            )}
            <button type="button" data-action="password" disabled={act.busy} onClick={() => ask({ kind: "password" })}>
              Set password
            </button>
            {u.totp_enabled && (
              <button type="button" data-action="clear-totp" disabled={act.busy} onClick={() => ask({ kind: "clear-totp" })}>
                Clear 2FA
              </button>
            )}
          </span>
        </td>
      </tr>
      {(pending || act.error || done) && (
        <tr class="detail">
          <td colSpan={7}>
            {pending?.kind === "role" && (
              <Confirm name="role" busy={act.busy} label="Change role" onCancel={() => ask(null)} onConfirm={() => patch({ role: pending.role }, `Role changed to ${pending.role}.`)}>
                Make {who} {pending.role === "admin" ? "an admin" : `a ${pending.role}`} (now {u.role})?
              </Confirm>
            )}
            {pending?.kind === "disable" && (
              <Confirm name="disable" busy={act.busy} label="Disable" onCancel={() => ask(null)} onConfirm={() => patch({ status: "disabled" }, "Disabled.")}>
                Disable {who}? They are signed out everywhere, their access tokens are revoked and their encoders disconnected.
              </Confirm>
            )}
            {pending?.kind === "clear-totp" && (
              <Confirm
                name="clear-totp"
                busy={act.busy}
                label="Clear 2FA"
                onCancel={() => ask(null)}
                onConfirm={() =>
                  act.run(async () => {
                    await call(api.POST("/api/v1/users/{id}/clear-totp", path));
                    setPending(null);
                    setDone("Two-factor sign-in cleared.");
                    reload();
                  })
                }
              >
                Turn two-factor sign-in off for {who}? They sign in with their password alone until they set it up again.
              </Confirm>
            )}
            {pending?.kind === "password" && (
              <form
                class="inline"
                data-form="password"
                onSubmit={(e) => {
                  const v = formValues(e);
                  void act.run(async () => {
                    await call(api.POST("/api/v1/users/{id}/reset-password", { ...path, body: { password: v.password } }));
                    setPending(null);
                    setDone("Password set; their sessions and access tokens are revoked.");
                  });
                }}
              >
                <label>
                  New password for {u.email}
                  <input name="password" type="password" autocomplete="new-password" minLength={10} required />
                </label>
                <button type="submit" class="danger" data-action="confirm" disabled={act.busy}>
                  Set password
                </button>
                <button type="button" data-action="cancel" disabled={act.busy} onClick={() => ask(null)}>
                  Cancel
                </button>
                <span class="muted">Signs them out everywhere and revokes their access tokens.</span>
              </form>
            )}
            {done && (
              <p class="ok" data-done>
                {done}
              </p>
            )}
            <ErrorText error={act.error} />
          </td>
        </tr>
      )}
    </tbody>
  );
}

function CreateUser({ created }: { created: (u: User) => void }) {
  const act = useAction();
  const [last, setLast] = useState<User | null>(null);
  return (
    <details class="panel" id="user-create-panel">
      <summary>New user</summary>
      <form
        id="user-create"
        onSubmit={(e) => {
          const form = e.target as HTMLFormElement;
          const v = formValues(e);
          void act.run(async () => {
            const u = await call(
              api.POST("/api/v1/users", {
                body: { email: v.email, display_name: v.display_name, password: v.password, role: v.role as Role },
              }),
            );
            form.reset();
            setLast(u);
            created(u);
          });
        }}
      >
        <label>
          E-mail <input name="email" type="email" required autocomplete="off" />
        </label>
        <label>
          Display name <input name="display_name" required autocomplete="off" />
        </label>
        <label>
          Password <input name="password" type="password" minLength={10} required autocomplete="new-password" />
        </label>
        <label>
          Role
          <select name="role">
            {ROLES.map((r) => (
              <option value={r} selected={r === "viewer"}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <p class="muted">The account is active with a verified address; tell them the password.</p>
        <button type="submit" disabled={act.busy}>
          Create user
        </button>
        <ErrorText error={act.error} />
        {last && (
          <p class="ok" id="user-created" data-user-id={last.id}>
            Created {last.email} ({last.role}). <a href={`/console/admin/users?q=${encodeURIComponent(last.email)}`}>Show</a>
          </p>
        )}
      </form>
    </details>
  );
}

export function AdminUsers() {
  const me = useMe();
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const role = (query.get("role") ?? "") as Role | "";
  const status = (query.get("status") ?? "") as Status | "";
  const offset = offsetOf(query);
  const list = useLoad(
    () =>
      call(
        api.GET("/api/v1/users", {
          params: { query: { q: q || undefined, role: role || undefined, status: status || undefined, limit: PAGE_SIZE + 1, offset } },
        }),
      ).then((r) => ({ ...paged(r.items), key: query.toString() })),
    [q, role, status, offset],
  );
  const filtered = Boolean(q || role || status);
  const updated = (u: User) => list.setData((d) => d && { ...d, items: d.items.map((x) => (x.id === u.id ? u : x)) });
  return (
    <Page title="Users">
      <form
        id="user-filter"
        class="inline"
        key={`${q}|${role}|${status}`}
        onSubmit={(e) => {
          const v = formValues(e);
          setQuery({ q: v.q.trim(), role: v.role, status: v.status });
        }}
      >
        <label>
          Search <input name="q" type="search" placeholder="e-mail or name" defaultValue={q} />
        </label>
        <label>
          Role
          <select name="role">
            <option value="">any</option>
            {ROLES.map((r) => (
              <option value={r} selected={r === role}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select name="status">
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option value={s} selected={s === status}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Search</button>
        {filtered && <a href="/console/admin/users">Clear</a>}
      </form>
      <CreateUser created={() => list.reload()} />
      {list.data ? (
        <div id="users-results" data-query={list.data.key}>
          <ErrorText error={list.error} />
          {list.data.items.length === 0 ? (
            <p class="muted" id="users-empty">
              {filtered ? "No user matches." : "No users."}
            </p>
          ) : (
            <div class="table-wrap">
              <table id="users" class="stack">
                <thead>
                  <tr>
                    <th>E-mail</th>
                    <th>Name</th>
                    <th>Role</th>
                    <th>Status</th>
                    <th>2FA</th>
                    <th>Created</th>
                    <th>Actions</th>
                  </tr>
                </thead>
                {list.data.items.map((u) => (
                  <UserRows key={u.id} u={u} self={u.id === me?.id} updated={updated} reload={list.reload} />
                ))}
              </table>
            </div>
          )}
          <Pager name="users" offset={offset} count={list.data.items.length} more={list.data.more} go={(o) => setQuery({ q, role, status, offset: o })} />
        </div>
      ) : (
        <Loading error={list.error} />
      )}
    </Page>
  );
}
