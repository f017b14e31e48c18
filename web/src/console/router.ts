// A small history-API router: console pages live under `/console/…` (the server answers every
// such path with the console), so links are real URLs that survive a reload.
import { useEffect, useState } from "preact/hooks";

const CHANGE = "onair:navigate";

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGE));
  window.scrollTo(0, 0);
}

/** The current `location.pathname` + `search`, re-rendering on navigation. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, set] = useState(0);
  useEffect(() => {
    const on = () => set((n) => n + 1);
    window.addEventListener(CHANGE, on);
    window.addEventListener("popstate", on);
    return () => {
      window.removeEventListener(CHANGE, on);
      window.removeEventListener("popstate", on);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Same-origin `<a href="/console/…">` clicks navigate without a page load. */
export function interceptLinks() {
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest?.("a");
    if (!a || a.target || a.origin !== location.origin || !a.pathname.startsWith("/console")) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
}

/** Matches `path` against `pattern` (`/console/channels/:id`); returns the parameters. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/");
  const s = path.replace(/\/+$/, "").split("/");
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(":")) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}
