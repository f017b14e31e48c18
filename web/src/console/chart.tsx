// Live line charts (SVG) of a stream's ingest bit rate and frame rate, one per series with its
// own scale: the top of each is labelled with its value and unit, the time axis runs from two
// minutes ago to now; the latest values are printed in the legend.
import type { Sample } from "./live";
import { fmtBitrate } from "./ui";

const W = 600;
const H = 120;

function line(samples: Sample[], value: (s: Sample) => number, max: number, span: number, end: number): string {
  return samples
    .map((s) => {
      const x = W - ((end - s.t) / span) * W;
      const y = H - 4 - (value(s) / max) * (H - 12);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
}

export function StatsChart({ samples, label }: { samples: Sample[]; label: string }) {
  const last = samples[samples.length - 1];
  const end = last?.t ?? Date.now();
  const span = 120_000;
  const maxRate = Math.max(1, ...samples.map((s) => s.bitrate)) * 1.15;
  const maxFps = Math.max(1, ...samples.map((s) => s.fps)) * 1.15;
  return (
    <figure class="stats-chart" data-samples={samples.length} aria-label={`${label}: bit rate and frame rate`} style="margin:0">
      <div class="chart-axis" data-axis="bitrate"><span>{fmtBitrate(maxRate)}</span><span>0</span></div>
      <svg class="chart" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label="bit rate">
        <polyline fill="none" stroke="#8ab4f8" stroke-width="2" points={line(samples, (s) => s.bitrate, maxRate, span, end)} />
      </svg>
      <div class="chart-axis" data-axis="fps"><span>{maxFps.toFixed(0)} fps</span><span>0</span></div>
      <svg class="chart small-chart" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label="frame rate">
        <polyline fill="none" stroke="#ffb74d" stroke-width="2" points={line(samples, (s) => s.fps, maxFps, span, end)} />
      </svg>
      <div class="chart-time"><span>−2 min</span><span>now</span></div>
      <figcaption class="chart-legend">
        <span style="color:#8ab4f8" data-series="bitrate">bit rate {last ? fmtBitrate(last.bitrate) : "—"}</span>
        <span style="color:#ffb74d" data-series="fps">frame rate {last ? `${last.fps.toFixed(1)} fps` : "—"}</span>
        <span>last 2 minutes</span>
      </figcaption>
    </figure>
  );
}
