// The console's API client: typed from `schema.d.ts`, which `npm run gen-api` generates from the
// server's OpenAPI document (`onair openapi`, the same document `/api/openapi.json` serves). A
// server test regenerates it and fails when the committed copy is out of date, so the console
// cannot drift from the documented `/api/v1`.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** RFC 9457 problem details, as every API error is. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { field: string; message: string }[];
}

export class ApiError extends Error {
  constructor(
    public status: number,
    public problem: Problem,
  ) {
    super(problem.detail ?? problem.title ?? `request failed (HTTP ${status})`);
  }
}

/** The session's CSRF token (the `onair_csrf` cookie, readable by scripts by design). */
export function csrfToken(): string {
  const m = document.cookie.match(/(?:^|;\s*)onair_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      request.headers.set("X-CSRF-Token", csrfToken());
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: location.origin, credentials: "same-origin" });
api.use(csrf);

/** Awaits an openapi-fetch call; returns its body or throws an [`ApiError`]. */
export async function call<T>(
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const r = await request;
  if (!r.response.ok) {
    const problem = (r.error && typeof r.error === "object" ? r.error : {}) as Problem;
    // 401 means the session is gone, except for a wrong two-factor code (the session is
    // fine, only the code was wrong).
    if (r.response.status === 401 && !String(problem.type ?? "").includes("mfa-required")) {
      window.dispatchEvent(new CustomEvent("onair:signed-out"));
    }
    throw new ApiError(r.response.status, problem);
  }
  return r.data as T;
}
