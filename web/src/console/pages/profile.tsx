// The signed-in user's profile: display name, password, two-factor authentication
// (profile_totp.tsx), personal access tokens (profile_tokens.tsx) and console sessions
// (profile_sessions.tsx).
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { refreshMe, useMe, type Me } from "../session";
import { ErrorText, FieldError, Loading, Page, formValues, useFormAction } from "../ui";
import { TwoFactor } from "./profile_totp";
import { Tokens } from "./profile_tokens";
import { Sessions } from "./profile_sessions";

function DisplayName({ me }: { me: Me }) {
  const { busy, error, fields, run } = useFormAction();
  const [saved, setSaved] = useState(false);
  const submit = (e: Event) => {
    const v = formValues(e);
    setSaved(false);
    void run(async () => {
      await call(api.PATCH("/api/v1/me", { body: { display_name: v.display_name } }));
      await refreshMe();
      setSaved(true);
    });
  };
  return (
    <section class="panel" id="profile-details">
      <h3>Account</h3>
      <dl class="facts">
        <dt>E-mail</dt>
        <dd id="profile-email">{me.email}</dd>
        <dt>Role</dt>
        <dd>{me.role}</dd>
      </dl>
      <form id="display-name" class="inline" onSubmit={submit}>
        <label>
          Display name <input name="display_name" required maxLength={100} defaultValue={me.display_name} />
          <FieldError errors={fields} field="display_name" />
        </label>
        <button type="submit" disabled={busy}>
          Save
        </button>
      </form>
      <ErrorText error={error} />
      {saved && (
        <p class="ok" role="status">
          Saved.
        </p>
      )}
    </section>
  );
}

function ChangePassword({ onChanged }: { onChanged: () => void }) {
  const { busy, error, fields, run, setError } = useFormAction();
  const [done, setDone] = useState(false);
  const submit = (e: Event) => {
    const form = e.target as HTMLFormElement;
    const v = formValues(e);
    setDone(false);
    if (v.password !== v.password_again) {
      setError("The two new passwords differ.");
      return;
    }
    void run(async () => {
      await call(api.PATCH("/api/v1/me", { body: { password: v.password, current_password: v.current_password } }));
      form.reset();
      setDone(true);
      onChanged();
    });
  };
  return (
    <section class="panel">
      <h3>Password</h3>
      <form id="password-change" onSubmit={submit}>
        <label>
          Current password <input name="current_password" type="password" autocomplete="current-password" required />
          <FieldError errors={fields} field="current_password" />
        </label>
        <label>
          New password <input name="password" type="password" autocomplete="new-password" required />
          <span class="muted">At least 10 characters.</span>
          <FieldError errors={fields} field="password" />
        </label>
        <label>
          New password again <input name="password_again" type="password" autocomplete="new-password" required />
        </label>
        <button type="submit" disabled={busy}>
          Change password
        </button>
        <ErrorText error={error} />
        {done && (
          <p id="password-changed" class="ok" role="status">
            Password changed. Your other sessions were signed out and your access tokens revoked.
          </p>
        )}
      </form>
    </section>
  );
}

export function Profile() {
  const me = useMe();
  // Bumped when an action elsewhere on the page changes the session or token lists.
  const [epoch, setEpoch] = useState(0);
  const changed = () => setEpoch((n) => n + 1);
  if (!me) return <Loading />;
  return (
    <Page title="Profile">
      <DisplayName me={me} />
      <ChangePassword onChanged={changed} />
      <TwoFactor me={me} />
      <Tokens epoch={epoch} />
      <Sessions epoch={epoch} onChanged={changed} />
    </Page>
  );
}
