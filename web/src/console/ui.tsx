// Shared pieces of the console pages: loading state, error display, copy buttons, forms.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "../api/client";

/** Loads `load()` on mount and whenever `deps` change; `reload()` loads again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string>("");
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => live && (setData(d), setError("")),
      (e) => live && setError(message(e)),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { data, error, reload, setData };
}

export function message(e: unknown): string {
  if (e instanceof ApiError) {
    // The detail of a validation problem usually names its fields already.
    const missing = (e.problem.errors ?? []).filter((f) => !e.message.includes(f.message));
    const fields = missing.map((f) => `${f.field}: ${f.message}`).join("; ");
    return fields ? `${e.message} (${fields})` : e.message;
  }
  return e instanceof Error ? e.message : String(e);
}

/** Runs an action, keeping its error (shown next to the button) and busy state. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const run = useCallback(async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError("");
    try {
      await f();
      return true;
    } catch (e) {
      setError(message(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, setError };
}

export function ErrorText({ error }: { error: string }) {
  return error ? <p class="error" role="alert">{error}</p> : null;
}

export function Page(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${props.title} · OnAir`;
  }, [props.title]);
  return (
    <section class="page" data-page={props.title}>
      <header class="page-head">
        <h2>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

export function Loading({ error }: { error?: string }) {
  return error ? <ErrorText error={error} /> : <p class="muted">Loading…</p>;
}

/** A read-only value with a copy button (stream keys, URLs, embed code). */
export function Copyable({ label, value, name, multiline }: { label: string; value: string; name?: string; multiline?: boolean }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      // Without clipboard permission (plain http on a LAN address), select the text instead.
      const el = document.querySelector<HTMLInputElement | HTMLTextAreaElement>(`[data-copy="${name ?? label}"]`);
      el?.select();
      document.execCommand?.("copy");
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <label class="copyable">
      <span>{label}</span>
      <span class="copy-row">
        {multiline ? (
          <textarea readOnly rows={3} data-copy={name ?? label} value={value} />
        ) : (
          <input readOnly data-copy={name ?? label} value={value} onFocus={(e) => (e.target as HTMLInputElement).select()} />
        )}
        <button type="button" onClick={copy} aria-label={`Copy ${label}`}>
          {copied ? "Copied" : "Copy"}
        </button>
      </span>
    </label>
  );
}

export function fmtBitrate(bps: number): string {
  if (!bps) return "0 kbit/s";
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

export function fmtBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}

export function fmtDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m ${s % 60}s` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

export function fmtTime(iso?: string | null): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** Form values as strings. Forms are uncontrolled (`defaultValue`, `defaultChecked`, `selected`
 * options): a re-render from a live update or a finished load must not reset what the user is
 * typing, which a `value` prop would. */
export function formValues(e: Event): Record<string, string> {
  e.preventDefault();
  const out: Record<string, string> = {};
  new FormData(e.target as HTMLFormElement).forEach((v, k) => (out[k] = String(v)));
  return out;
}

/** The problem's per-field messages (`errors` of a 422), by field name. */
export function fieldErrors(e: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (e instanceof ApiError) e.problem.errors?.forEach((f) => (out[f.field] = out[f.field] ? `${out[f.field]}; ${f.message}` : f.message));
  return out;
}

/** The message for one form field, under it. */
export function FieldError({ errors, field }: { errors: Record<string, string>; field: string }) {
  return errors[field] ? (
    <span class="error field-error" data-field-error={field}>
      {errors[field]}
    </span>
  ) : null;
}

/** Unix milliseconds as local date and time. */
export function fmtMs(ms?: number | null): string {
  if (ms === undefined || ms === null) return "—";
  const d = new Date(ms);
  return isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

/** [`useAction`] for a form: a 422's field messages go next to their fields (`fields`). */
export function useFormAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [fields, setFields] = useState<Record<string, string>>({});
  const run = useCallback(async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError("");
    setFields({});
    try {
      await f();
      return true;
    } catch (e) {
      const byField = fieldErrors(e);
      setFields(byField);
      setError(Object.keys(byField).length ? "Please correct the marked fields." : message(e));
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, fields, run, setError, setFields };
}
