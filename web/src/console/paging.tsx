// Paging over the API's limit/offset lists.

/** Rows per page. Lists ask for one more to learn whether a next page exists (the API's lists
 * carry no total). */
export const PAGE_SIZE = 50;

/** Splits a list fetched with `limit: size + 1` into the page and whether more follow. */
export function paged<T>(items: T[], size = PAGE_SIZE): { items: T[]; more: boolean } {
  return { items: items.slice(0, size), more: items.length > size };
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
