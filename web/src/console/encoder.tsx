// "Connect your encoder": the exact OBS settings and an ffmpeg command line for a device. The
// stream key is only known right after registering a device or rotating its key (the server
// keeps only its hash); otherwise its first characters identify which key the encoder needs.
import { Copyable } from "./ui";

export function ConnectEncoder(props: { rtmpUrl: string; streamKey?: string; keyPrefix?: string; segmentMs: number }) {
  const key = props.streamKey;
  const keyframe = Math.max(1, Math.round(props.segmentMs / 1000));
  const ffmpeg =
    `ffmpeg -re -i INPUT.mp4 -c:v libx264 -preset veryfast -tune zerolatency -g ${keyframe * 30} ` +
    `-keyint_min ${keyframe * 30} -b:v 3000k -maxrate 3000k -bufsize 6000k -c:a aac -b:a 128k -ar 48000 ` +
    `-f flv "${props.rtmpUrl}/${key ?? "STREAM_KEY"}"`;
  return (
    <div class="panel connect-encoder" id="connect-encoder">
      <h3>Connect your encoder</h3>
      <p class="muted">
        OBS Studio: Settings → Stream → Service <b>Custom…</b>, then paste the Server below and the device's stream
        key{key ? " (also below)" : ""}.
      </p>
      <Copyable label="Server" name="server" value={props.rtmpUrl} />
      {key ? (
        <>
          <Copyable label="Stream key" name="stream-key" value={key} />
          <p class="error">Copy the stream key now: it is shown only once. Rotate the key if it is lost.</p>
        </>
      ) : (
        <p>
          Stream key: the device's key (starts with <code class="secret">{props.keyPrefix ?? "…"}</code>), shown once when the
          device was registered. Lost it? Rotate the key on the device's page.
        </p>
      )}
      <p class="muted">
        Output: rate control CBR, keyframe interval <b>{keyframe} s</b> (segments are {props.segmentMs / 1000} s), x264 tune{" "}
        <b>zerolatency</b>, profile high or main, audio AAC 48 kHz. H.264 or H.265 video.
      </p>
      <Copyable label="ffmpeg" name="ffmpeg" value={ffmpeg} multiline />
    </div>
  );
}
