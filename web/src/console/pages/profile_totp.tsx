// Two-factor sign-in (TOTP): setup shows the secret as a QR code (drawn here, the secret never
// leaves the page) and as text, a first code turns it on; a code and the password turn it off.
import qrcode from "qrcode-generator";
import { useMemo, useState } from "preact/hooks";
import { api, call, type Schemas } from "../../api/client";
import { refreshMe, type Me } from "../session";
import { Copyable, ErrorText, FieldError, formValues, useFormAction } from "../ui";

/** A QR code of `text` as SVG, one path of dark modules inside a 4-module quiet zone. */
function QrCode({ text }: { text: string }) {
  const { n, d } = useMemo(() => {
    const qr = qrcode(0, "M");
    qr.addData(text);
    qr.make();
    const count = qr.getModuleCount();
    let path = "";
    for (let r = 0; r < count; r++) {
      for (let c = 0; c < count; c++) if (qr.isDark(r, c)) path += `M${c + 4} ${r + 4}h1v1h-1z`;
    }
    return { n: count + 8, d: path };
  }, [text]);
  return (
    <div class="qr" id="totp-qr">
      <svg viewBox={`0 0 ${n} ${n}`} role="img" aria-label="QR code for your authenticator app" shape-rendering="crispEdges">
        <rect width={n} height={n} fill="#fff" />
        <path d={d} fill="#000" />
      </svg>
    </div>
  );
}

function CodeInput() {
  return (
    <label>
      Code from the app{" "}
      <input name="code" inputMode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxLength={6} required />
    </label>
  );
}

function Setup() {
  const start = useFormAction();
  const confirm = useFormAction();
  const [setup, setSetup] = useState<(Schemas["TotpSetup"] & { password: string }) | null>(null);
  const begin = (e: Event) => {
    const v = formValues(e);
    void start.run(async () => {
      const s = await call(api.POST("/api/v1/me/totp/setup", { body: { current_password: v.current_password } }));
      setSetup({ ...s, password: v.current_password });
    });
  };
  const enable = (e: Event) => {
    const v = formValues(e);
    if (!setup) return;
    void confirm.run(async () => {
      await call(api.POST("/api/v1/me/totp/enable", { body: { code: v.code.trim(), current_password: setup.password } }));
      setSetup(null);
      await refreshMe();
    });
  };
  if (!setup) {
    return (
      <form id="totp-setup" onSubmit={begin}>
        <p>
          Two-factor sign-in is <strong id="totp-status" data-enabled="false">off</strong>. With it on, signing in also
          needs a code from an authenticator app on your phone.
        </p>
        <label>
          Current password <input name="current_password" type="password" autocomplete="current-password" required />
          <FieldError errors={start.fields} field="current_password" />
        </label>
        <button type="submit" disabled={start.busy}>
          Set up two-factor sign-in
        </button>
        <ErrorText error={start.error} />
      </form>
    );
  }
  return (
    <div id="totp-pending">
      <p>Scan this code with your authenticator app, or type the secret key into it:</p>
      <QrCode text={setup.otpauth_uri} />
      <Copyable label="Secret key" name="totp-secret" value={setup.secret} />
      <form id="totp-enable" onSubmit={enable}>
        <p class="muted">Then enter the six-digit code the app shows to turn two-factor sign-in on.</p>
        <CodeInput />
        <FieldError errors={confirm.fields} field="code" />
        <span class="row">
          <button type="submit" disabled={confirm.busy}>
            Turn on
          </button>
          <button type="button" class="link" onClick={() => setSetup(null)}>
            Cancel
          </button>
        </span>
        <ErrorText error={confirm.error} />
      </form>
    </div>
  );
}

function Disable() {
  const { busy, error, fields, run } = useFormAction();
  const submit = (e: Event) => {
    const v = formValues(e);
    void run(async () => {
      await call(api.POST("/api/v1/me/totp/disable", { body: { code: v.code.trim(), current_password: v.current_password } }));
      await refreshMe();
    });
  };
  return (
    <form id="totp-disable" onSubmit={submit}>
      <p>
        Two-factor sign-in is <strong id="totp-status" data-enabled="true">on</strong>: signing in needs a code from
        your authenticator app.
      </p>
      <p class="muted">To turn it off, confirm with your password and a current code.</p>
      <label>
        Current password <input name="current_password" type="password" autocomplete="current-password" required />
        <FieldError errors={fields} field="current_password" />
      </label>
      <CodeInput />
      <button type="submit" class="danger" disabled={busy}>
        Turn off two-factor sign-in
      </button>
      <ErrorText error={error} />
    </form>
  );
}

export function TwoFactor({ me }: { me: Me }) {
  return (
    <section class="panel" id="totp">
      <h3>Two-factor sign-in</h3>
      {me.totp_enabled ? <Disable /> : <Setup />}
    </section>
  );
}
