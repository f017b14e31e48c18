// Pieces shared by the admin pages: paging over the API's limit/offset lists, filters kept in
// the URL query, a confirm step for destructive actions, Unix-millisecond times.
import type { ComponentChildren } from "preact";
import { navigate } from "../../router";

export { PAGE_SIZE, Pager, paged } from "../../paging";

/** The `offset` query parameter (0 when absent or invalid). */
export function offsetOf(query: URLSearchParams): number {
  const n = Number(query.get("offset") ?? 0);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** Navigates to the current path with `params` as its query (empty values dropped). */
export function setQuery(params: Record<string, string | number | undefined | null>, replace = false) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "" && !(k === "offset" && v === 0)) q.set(k, String(v));
  }
  const s = q.toString();
  navigate(location.pathname + (s ? `?${s}` : ""), replace);
}


/** An inline "are you sure" strip: the action runs only after its confirm button. */
export function Confirm(props: { name: string; busy?: boolean; onConfirm: () => void; onCancel: () => void; children: ComponentChildren; label?: string }) {
  return (
    <div class="confirm row" data-confirm={props.name} role="alertdialog">
      <span>{props.children}</span>
      <button type="button" class="danger" data-action="confirm" disabled={props.busy} onClick={props.onConfirm}>
        {props.label ?? "Confirm"}
      </button>
      <button type="button" data-action="cancel" disabled={props.busy} onClick={props.onCancel}>
        Cancel
      </button>
    </div>
  );
}

export { fmtMs } from "../../ui";

/** `datetime-local` input value (local time) of a Unix-millisecond time. */
export function toLocalInput(ms: number | null): string {
  if (ms === null) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return isNaN(d.getTime()) ? "" : d.toISOString().slice(0, 16);
}

/** Unix milliseconds of a `datetime-local` value (local time); null when empty or invalid. */
export function fromLocalInput(v: string): number | null {
  if (!v) return null;
  const t = new Date(v).getTime();
  return isNaN(t) ? null : t;
}

/** A non-negative integer query parameter, or null. */
export function msParam(query: URLSearchParams, name: string): number | null {
  const v = query.get(name);
  if (v === null || v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : null;
}

export const ROLES = ["admin", "broadcaster", "viewer"] as const;
export const WEBHOOK_EVENTS = ["publish.started", "publish.stopped", "record.done"] as const;
