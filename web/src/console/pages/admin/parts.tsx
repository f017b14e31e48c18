// Pieces shared by the admin pages: paging over the API's limit/offset lists, filters kept in
// the URL query, a confirm step for destructive actions, Unix-millisecond times.
import type { ComponentChildren } from "preact";
import { navigate } from "../../router";

/** Rows per page. Lists ask for one more to learn whether a next page exists (the API's lists
 * carry no total). */
export const PAGE_SIZE = 50;

/** Splits a list fetched with `limit: size + 1` into the page and whether more follow. */
export function paged<T>(items: T[], size = PAGE_SIZE): { items: T[]; more: boolean } {
  return { items: items.slice(0, size), more: items.length > size };
}

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

/** Previous/next page buttons for a list at `offset`. */
export function Pager(props: { name: string; offset: number; count: number; more: boolean; size?: number; go: (offset: number) => void }) {
  const size = props.size ?? PAGE_SIZE;
  if (props.offset === 0 && !props.more) return null;
  return (
    <nav class="pager row" data-pager={props.name}>
      <button type="button" data-page="prev" disabled={props.offset === 0} onClick={() => props.go(Math.max(0, props.offset - size))}>
        ← Previous
      </button>
      <span class="muted">
        {props.count ? `${props.offset + 1}–${props.offset + props.count}` : "none"}
      </span>
      <button type="button" data-page="next" disabled={!props.more} onClick={() => props.go(props.offset + size)}>
        Next →
      </button>
    </nav>
  );
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

/** A Unix-millisecond time, local. */
export function fmtMs(ms?: number | null): string {
  if (ms === undefined || ms === null) return "—";
  const d = new Date(ms);
  return isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

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
