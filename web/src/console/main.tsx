// The OnAir console: a single page under `/console/…` talking only to the documented `/api/v1`.
// Pages are one file each in `pages/`; this file routes and draws the frame around them.
import type { ComponentChildren, JSX } from "preact";
import { render } from "preact";
import { useEffect } from "preact/hooks";
import "./console.css";
import { interceptLinks, match, navigate, useLocation } from "./router";
import { logout, signedOut, useMe, type Me } from "./session";
import { Dashboard } from "./pages/dashboard";
import { Login } from "./pages/login";
import { SignUp, Verify, Reset } from "./pages/account";
import { Profile } from "./pages/profile";
import { Channels, ChannelPage } from "./pages/channels";
import { Devices, DevicePage } from "./pages/devices";
import { Recordings } from "./pages/recordings";
import { AdminUsers, AdminAudit, AdminWebhooks, AdminWebhook, AdminNode } from "./pages/admin";

type Params = Record<string, string>;
interface Route {
  path: string;
  page: (p: Params) => JSX.Element;
  /** Reachable signed out (the sign-in and account pages). */
  public?: boolean;
  admin?: boolean;
}

const routes: Route[] = [
  { path: "/console", page: () => <Dashboard /> },
  { path: "/console/login", page: () => <Login />, public: true },
  { path: "/console/signup", page: () => <SignUp />, public: true },
  { path: "/console/verify", page: () => <Verify />, public: true },
  { path: "/console/reset", page: () => <Reset />, public: true },
  { path: "/console/profile", page: () => <Profile /> },
  { path: "/console/channels", page: () => <Channels /> },
  { path: "/console/channels/:id", page: (p) => <ChannelPage id={p.id} /> },
  { path: "/console/devices", page: () => <Devices /> },
  { path: "/console/devices/:id", page: (p) => <DevicePage id={p.id} /> },
  { path: "/console/recordings", page: () => <Recordings /> },
  { path: "/console/admin/users", page: () => <AdminUsers />, admin: true },
  { path: "/console/admin/audit", page: () => <AdminAudit />, admin: true },
  { path: "/console/admin/webhooks", page: () => <AdminWebhooks />, admin: true },
  { path: "/console/admin/webhooks/:id", page: (p) => <AdminWebhook id={p.id} />, admin: true },
  { path: "/console/admin/node", page: () => <AdminNode />, admin: true },
];

function Nav({ me }: { me: Me }) {
  const { path } = useLocation();
  const link = (href: string, text: string) => (
    <a href={href} aria-current={path === href || (href !== "/console" && path.startsWith(href + "/")) ? "page" : undefined}>
      {text}
    </a>
  );
  return (
    <nav class="nav">
      {link("/console", "Dashboard")}
      {link("/console/channels", "Channels")}
      {link("/console/devices", "Devices")}
      {link("/console/recordings", "Recordings")}
      {me.role === "admin" && (
        <>
          {link("/console/admin/users", "Users")}
          {link("/console/admin/audit", "Audit log")}
          {link("/console/admin/webhooks", "Webhooks")}
          {link("/console/admin/node", "Server")}
        </>
      )}
    </nav>
  );
}

function Frame({ me, children }: { me: Me | null; children: ComponentChildren }) {
  return (
    <div class="console">
      <header class="bar">
        <a class="brand" href="/console">
          OnAir
        </a>
        {me ? (
          <span class="who">
            <a id="who" href="/console/profile">
              {me.display_name || me.email} ({me.role})
            </a>
            <button
              type="button"
              class="link"
              id="logout"
              onClick={async () => {
                await logout().catch(() => signedOut());
                navigate("/console/login");
              }}
            >
              Sign out
            </button>
          </span>
        ) : (
          <span class="who">
            <a href="/console/login">Sign in</a>
          </span>
        )}
      </header>
      {me && <Nav me={me} />}
      <main>{children}</main>
      <footer class="foot">
        <a href="/api/docs">API reference</a>
      </footer>
    </div>
  );
}

function App() {
  const me = useMe();
  const { path } = useLocation();
  const here = path === "/" ? "/console" : path;
  const found = routes.map((r) => ({ r, p: match(r.path, here) })).find((x) => x.p);
  useEffect(() => {
    const on = () => signedOut();
    window.addEventListener("onair:signed-out", on);
    return () => window.removeEventListener("onair:signed-out", on);
  }, []);
  useEffect(() => {
    // Judge the address as it is now: signing out navigates to the sign-in page itself.
    const now = routes.find((r) => match(r.path, location.pathname === "/" ? "/console" : location.pathname));
    if (me === null && now && !now.public) {
      navigate(`/console/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
    }
  }, [me, found?.r.path]);
  if (me === undefined) return <Frame me={null}>{<p class="muted">Loading…</p>}</Frame>;
  if (!found) {
    return (
      <Frame me={me}>
        <p class="error">There is no page here. <a href="/console">Go to the dashboard</a>.</p>
      </Frame>
    );
  }
  if (!found.r.public && !me) return <Frame me={null}>{null}</Frame>;
  if (found.r.admin && me?.role !== "admin") {
    return (
      <Frame me={me}>
        <p class="error">This page is for admins.</p>
      </Frame>
    );
  }
  return <Frame me={me}>{found.r.page(found.p!)}</Frame>;
}

interceptLinks();
render(<App />, document.getElementById("app")!);
