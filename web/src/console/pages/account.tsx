// Sign-up, e-mail verification and password reset (signed out). The server answers sign-up,
// resend and reset requests the same way for every address, so these pages never say whether
// an address has an account either.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { useLocation } from "../router";
import { refreshMe } from "../session";
import { ErrorText, FieldError, Page, formValues, message, useFormAction } from "../ui";

const PASSWORD_HINT = "At least 10 characters.";

/** Asks for a new verification link (`POST /auth/resend-verification`). */
function ResendForm({ email = "" }: { email?: string }) {
  const { busy, error, fields, run } = useFormAction();
  const [sent, setSent] = useState("");
  const submit = (e: Event) => {
    const v = formValues(e);
    void run(async () => {
      const r = await call(api.POST("/api/v1/auth/resend-verification", { body: { email: v.email } }));
      setSent(`If ${v.email} has an account waiting for verification, a new link is on its way.`);
      return r;
    });
  };
  return (
    <form id="resend" onSubmit={submit}>
      <label>
        E-mail <input name="email" type="email" autocomplete="email" required defaultValue={email} />
        <FieldError errors={fields} field="email" />
      </label>
      <button type="submit" disabled={busy}>
        Send a new verification link
      </button>
      <ErrorText error={error} />
      {sent && (
        <p id="resend-sent" class="ok" role="status">
          {sent}
        </p>
      )}
    </form>
  );
}

export function SignUp() {
  const { busy, error, fields, run } = useFormAction();
  const [done, setDone] = useState<string | null>(null);
  const submit = (e: Event) => {
    const v = formValues(e);
    void run(async () => {
      await call(
        api.POST("/api/v1/auth/signup", {
          body: { email: v.email, display_name: v.display_name, password: v.password },
        }),
      );
      setDone(v.email);
    });
  };
  if (done !== null) {
    return (
      <Page title="Check your e-mail">
        <p id="signup-done" role="status">
          We sent a verification link to <strong>{done}</strong>. Open it to activate your account, then sign in.
        </p>
        <h3>No message?</h3>
        <p class="muted">Look in your spam folder, or ask for a new link (the old one stops working).</p>
        <ResendForm email={done} />
        <p>
          <a href="/console/login">Sign in</a>
        </p>
      </Page>
    );
  }
  return (
    <Page title="Create an account">
      <form id="signup" onSubmit={submit}>
        <label>
          E-mail <input name="email" type="email" autocomplete="email" required />
          <FieldError errors={fields} field="email" />
        </label>
        <label>
          Display name <input name="display_name" autocomplete="name" required maxLength={100} />
          <FieldError errors={fields} field="display_name" />
        </label>
        <label>
          Password <input name="password" type="password" autocomplete="new-password" required />
          <span class="muted">{PASSWORD_HINT}</span>
          <FieldError errors={fields} field="password" />
        </label>
        <button type="submit" disabled={busy}>
          Create account
        </button>
        <ErrorText error={error} />
      </form>
      <p>
        Already have an account? <a href="/console/login">Sign in</a>
      </p>
    </Page>
  );
}

export function Verify() {
  const { query } = useLocation();
  const token = query.get("token") ?? "";
  const [state, setState] = useState<{ user?: Schemas["UserView"]; error?: string }>({});
  const sent = useRef("");
  useEffect(() => {
    // The token works once: post it once per distinct token.
    if (!token || sent.current === token) return;
    sent.current = token;
    call(api.POST("/api/v1/auth/verify", { body: { token } })).then(
      (user) => setState({ user }),
      (e) => setState({ error: message(e) }),
    );
  }, [token]);
  const failed = !token ? "This link has no verification token. Open the link from the e-mail." : state.error;
  return (
    <Page title="Verify your e-mail">
      {state.user ? (
        <>
          <p id="verified" class="ok" role="status">
            {state.user.email} is verified. Your account is active.
          </p>
          <p>
            <a id="signin-link" href="/console/login">
              Sign in
            </a>
          </p>
        </>
      ) : failed ? (
        <>
          <p id="verify-error" class="error" role="alert">
            {failed}
          </p>
          <p>Links expire after 48 hours and work once. Ask for a new one:</p>
          <ResendForm />
        </>
      ) : (
        <p class="muted">Verifying…</p>
      )}
    </Page>
  );
}

function RequestReset() {
  const { busy, error, fields, run } = useFormAction();
  const [sent, setSent] = useState("");
  const submit = (e: Event) => {
    const v = formValues(e);
    void run(async () => {
      await call(api.POST("/api/v1/auth/password-reset", { body: { email: v.email } }));
      setSent(v.email);
    });
  };
  return (
    <Page title="Reset your password">
      {sent ? (
        <p id="reset-sent" class="ok" role="status">
          If {sent} has an account, a link to choose a new password is on its way. It works for one hour.
        </p>
      ) : (
        <form id="reset-request" onSubmit={submit}>
          <p class="muted">We will e-mail you a link to choose a new password.</p>
          <label>
            E-mail <input name="email" type="email" autocomplete="email" required />
            <FieldError errors={fields} field="email" />
          </label>
          <button type="submit" disabled={busy}>
            Send reset link
          </button>
          <ErrorText error={error} />
        </form>
      )}
      <p>
        <a href="/console/login">Back to sign in</a>
      </p>
    </Page>
  );
}

function ConfirmReset({ token }: { token: string }) {
  const { busy, error, fields, run, setError } = useFormAction();
  const [done, setDone] = useState(false);
  const submit = (e: Event) => {
    const v = formValues(e);
    if (v.password !== v.password_again) {
      setError("The two passwords differ.");
      return;
    }
    void run(async () => {
      await call(api.POST("/api/v1/auth/password-reset/confirm", { body: { token, password: v.password } }));
      // Every session of the account was signed out, this browser's included.
      await refreshMe().catch(() => null);
      setDone(true);
    });
  };
  return (
    <Page title="Choose a new password">
      {done ? (
        <>
          <p id="reset-done" class="ok" role="status">
            Your password is changed. Every session of the account was signed out and its access tokens were revoked.
          </p>
          <p>
            <a id="signin-link" href="/console/login">
              Sign in
            </a>
          </p>
        </>
      ) : (
        <form id="reset-confirm" onSubmit={submit}>
          <label>
            New password <input name="password" type="password" autocomplete="new-password" required />
            <span class="muted">{PASSWORD_HINT}</span>
            <FieldError errors={fields} field="password" />
          </label>
          <label>
            New password again <input name="password_again" type="password" autocomplete="new-password" required />
          </label>
          <button type="submit" disabled={busy}>
            Set password
          </button>
          <ErrorText error={error} />
          <p class="muted">
            The link works once, for one hour. If it expired, <a href="/console/reset">ask for a new one</a>.
          </p>
        </form>
      )}
    </Page>
  );
}

export function Reset() {
  const token = useLocation().query.get("token");
  return token ? <ConfirmReset token={token} /> : <RequestReset />;
}
