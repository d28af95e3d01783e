/**
 * Text of the status bar item: which model serves completions and how long the last one took.
 * Free of the `vscode` API so it can be unit-tested.
 */

export type ServerState = "starting" | "running" | "stopped" | "failed" | "disabled";

/** Keeps the latest completion round trips (client side, request sent -> answer received). */
export class LatencyTracker {
  private readonly samples: number[] = [];

  constructor(private readonly window = 20) {}

  /** Records one round trip in milliseconds; negative or non-finite values are ignored. */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      return;
    }
    this.samples.push(ms);
    if (this.samples.length > this.window) {
      this.samples.shift();
    }
  }

  get last(): number | undefined {
    return this.samples.length > 0 ? this.samples[this.samples.length - 1] : undefined;
  }

  get count(): number {
    return this.samples.length;
  }

  /** Median of the kept round trips, or undefined when there are none. */
  get median(): number | undefined {
    if (this.samples.length === 0) {
      return undefined;
    }
    const sorted = [...this.samples].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }
}

/** Formats milliseconds for the status bar: one decimal below 10 ms, whole numbers above. */
export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

export interface StatusText {
  text: string;
  tooltip: string;
}

/** The status bar text and tooltip for a server state, model name and latencies. */
export function statusText(state: ServerState, model: string, latency: LatencyTracker): StatusText {
  const icon = state === "failed" ? "$(error)" : state === "starting" ? "$(sync~spin)" : "$(sparkle)";
  if (state !== "running") {
    const words: Record<ServerState, string> = {
      starting: "starting",
      running: "",
      stopped: "stopped",
      failed: "server failed, click for details",
      disabled: "off",
    };
    return { text: `${icon} codecomp: ${words[state]}`, tooltip: `codecomp ${words[state]} (${model})` };
  }
  const last = latency.last;
  const text = last === undefined ? `${icon} codecomp: ${model}` : `${icon} codecomp: ${model} · ${formatMs(last)}`;
  const med = latency.median;
  const tooltip =
    last === undefined
      ? `codecomp is using ${model}. No completion requested yet.`
      : `codecomp is using ${model}. Last completion round trip ${formatMs(last)}, median of the last ${latency.count}: ${formatMs(med ?? last)}.`;
  return { text, tooltip };
}
