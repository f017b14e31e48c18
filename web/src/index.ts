// Console shell: lists the live streams this visitor may watch, with links to the player.
interface StreamInfo { channel: string; state: string }

async function refresh() {
  const list = document.getElementById("live") as HTMLUListElement;
  try {
    const res = await fetch("/api/v1/streams", { credentials: "same-origin" });
    const body = (await res.json()) as { streams: StreamInfo[] };
    list.replaceChildren(...body.streams.map((s) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = `/watch/${encodeURIComponent(s.channel)}`;
      a.textContent = `${s.channel} (${s.state})`;
      li.append(a);
      return li;
    }));
  } catch {
    /* offline: keep the last list */
  }
}
void refresh();
setInterval(refresh, 5000);
