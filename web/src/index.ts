// The console: sign-in (with the two-factor step when enabled) and the dashboard of live
// streams, updated from the server-sent `/api/v1/streams/events` (no polling).
interface StreamInfo {
  channel: string;
  state: string;
  started_at: string;
  ingest_bitrate: number;
  video: { codec: string; width: number; height: number; fps: number } | null;
  viewers: { hls: number; llhls: number; flv: number };
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function fmtBitrate(bps: number): string {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

function uptime(since: string): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ${s % 60}s`;
}

function card(s: StreamInfo): HTMLElement {
  const el = document.createElement("article");
  el.className = "card";
  el.dataset.channel = s.channel;
  const img = document.createElement("img");
  img.alt = `${s.channel} thumbnail`;
  img.src = `/live/${encodeURIComponent(s.channel)}/thumbnail.jpg?t=${Math.floor(Date.now() / 10000)}`;
  img.onerror = () => { img.style.visibility = "hidden"; };
  const a = document.createElement("a");
  a.href = `/watch/${encodeURIComponent(s.channel)}`;
  a.textContent = s.channel;
  const meta = document.createElement("p");
  const viewers = s.viewers.hls + s.viewers.llhls + s.viewers.flv;
  const v = s.video ? `${s.video.width}×${s.video.height} ${s.video.fps.toFixed(0)} fps · ` : "";
  meta.textContent = `${s.state} · ${v}${fmtBitrate(s.ingest_bitrate)} · ${viewers} watching · up ${uptime(s.started_at)}`;
  el.append(img, a, meta);
  return el;
}

function dashboard() {
  $("login").hidden = true;
  $("dashboard").hidden = false;
  const events = new EventSource("/api/v1/streams/events");
  events.addEventListener("streams", (e) => {
    const { streams } = JSON.parse((e as MessageEvent).data) as { streams: StreamInfo[] };
    $("empty").hidden = streams.length > 0;
    $("streams").replaceChildren(...streams.map(card));
  });
}

async function signedIn(): Promise<boolean> {
  const res = await fetch("/api/v1/me", { credentials: "same-origin" });
  if (!res.ok) return false;
  const me = await res.json();
  $("who").textContent = `${me.display_name ?? me.email} (${me.role})`;
  return true;
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target as HTMLFormElement);
  const body: Record<string, string> = { email: String(form.get("email")), password: String(form.get("password")) };
  const code = String(form.get("totp_code") ?? "");
  if (code) body.totp_code = code;
  const res = await fetch("/api/v1/auth/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.ok) {
    await signedIn();
    dashboard();
    return;
  }
  const problem = await res.json().catch(() => ({}));
  if (String(problem.type ?? "").includes("mfa")) {
    $("totp-row").hidden = false;
  }
  $("login-error").textContent = problem.detail ?? `Sign-in failed (${res.status})`;
});

void (async () => {
  if (await signedIn()) dashboard();
  else $("login").hidden = false;
})();
