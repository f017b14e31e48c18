// Who is signed in: `GET /api/v1/me`, shared by every page.
import { useEffect, useState } from "preact/hooks";
import { api, call, type Schemas } from "../api/client";
import { restartLive } from "./live";

export type Me = Schemas["UserView"];

let current: Me | null | undefined = undefined;
const listeners = new Set<() => void>();

export async function refreshMe(): Promise<Me | null> {
  const r = await api.GET("/api/v1/me");
  const before = current?.id;
  current = r.response.ok && r.data ? r.data : null;
  // The live event stream carries the credentials it was opened with.
  if (before !== current?.id) restartLive();
  listeners.forEach((l) => l());
  return current;
}

export function signedOut() {
  if (current) restartLive();
  current = null;
  listeners.forEach((l) => l());
}

/** The signed-in user: `undefined` while loading, `null` when signed out. */
export function useMe(): Me | null | undefined {
  const [, set] = useState(0);
  useEffect(() => {
    const on = () => set((n) => n + 1);
    listeners.add(on);
    if (current === undefined) void refreshMe();
    return () => void listeners.delete(on);
  }, []);
  return current;
}

export async function logout() {
  await call(api.POST("/api/v1/auth/logout"));
  signedOut();
}
