// Sign-in, with the authenticator-code step when the account has two-factor authentication.
import { useState } from "preact/hooks";
import { api, call } from "../../api/client";
import { navigate } from "../router";
import { refreshMe } from "../session";
import { ErrorText, Page, formValues, message } from "../ui";

/** Problem type of a sign-in refused until the address is verified. */
const UNVERIFIED = "https://onair.invalid/problems/email-unverified";

export function Login() {
  const [needCode, setNeedCode] = useState(false);
  const [unverified, setUnverified] = useState("");
  const [resent, setResent] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    const v = formValues(e);
    setBusy(true);
    setError("");
    try {
      await call(
        api.POST("/api/v1/auth/login", {
          body: { email: v.email, password: v.password, ...(v.totp_code ? { totp_code: v.totp_code } : {}) },
        }),
      );
      await refreshMe();
      const next = new URLSearchParams(location.search).get("next");
      const safe = next && next.startsWith("/console") && !next.startsWith("/console/login");
      navigate(safe ? next : "/console", true);
    } catch (err) {
      const type = String((err as { problem?: { type?: string } }).problem?.type ?? "");
      if (type.includes("mfa") || type.includes("totp")) setNeedCode(true);
      // Unverified: offer a new link right here (the first may have expired or gone astray).
      setUnverified(type === UNVERIFIED ? v.email : "");
      setResent("");
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Page title="Sign in">
      <form id="login" onSubmit={submit}>
        <label>
          E-mail <input name="email" type="email" autocomplete="username" required />
        </label>
        <label>
          Password <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {needCode && (
          <label id="totp-row">
            Authenticator code
            <input name="totp_code" inputMode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" autoFocus />
          </label>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <ErrorText error={error} />
        {unverified && (
          <p id="resend-verification">
            <button
              type="button"
              disabled={busy}
              onClick={async () => {
                await call(api.POST("/api/v1/auth/resend-verification", { body: { email: unverified } })).catch(() => {});
                setResent(`If ${unverified} is waiting for verification, a new link is on its way.`);
              }}
            >
              Send a new verification link
            </button>{" "}
            <span role="status">{resent}</span>
          </p>
        )}
      </form>
      <p>
        <a href="/console/signup">Create an account</a> · <a href="/console/reset">Forgot your password?</a>
      </p>
    </Page>
  );
}
