// A muted <video> playing an HLS playlist: natively where the browser can (Safari), else with
// hls.js, loaded on first use. The console session authorizes the playlist and its media.
import { useEffect, useRef, useState } from "preact/hooks";
import type Hls from "hls.js";
import { ErrorText } from "./ui";

/** `live`: low-latency mode (LL-HLS parts, blocking reload) and no seeking back by default. */
export function HlsVideo({ src, live, class: cls }: { src: string; live?: boolean; class?: string }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let hls: Hls | null = null;
    let gone = false;
    const el = video.current!;
    setError("");
    if (el.canPlayType("application/vnd.apple.mpegurl")) {
      el.src = src;
    } else {
      void import("hls.js").then(({ default: H }) => {
        if (gone) return;
        if (!H.isSupported()) return setError("This browser cannot play HLS.");
        hls = new H(live ? { lowLatencyMode: true } : {});
        hls.on(H.Events.ERROR, (_e, data) => data.fatal && setError(`Playback failed: ${data.details}`));
        hls.loadSource(src);
        hls.attachMedia(el);
      });
    }
    return () => {
      gone = true;
      hls?.destroy();
    };
  }, [src, live]);
  return (
    <>
      <video ref={video} class={cls} controls autoplay muted playsInline />
      <ErrorText error={error} />
    </>
  );
}
