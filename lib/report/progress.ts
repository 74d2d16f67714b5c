/**
 * The one-line progress bar of the long-running commands (the `blindsight calibrate` CLI, the benchmark sweep), on
 * stderr by default. It draws only when its stream is a terminal, so logs, pipes and CI output stay clean.
 *
 * Two ways to drive it: `update(fraction, label)` with a fraction of the work done, or, given `total` units,
 * `tick(label)` after each unit and `note(label)` to say what runs next. Redraws are rate-limited to 10 a second,
 * except the final one and `note()` (called right before a long step, so its label must show).
 */
import { typeError } from '../core/errors.js';
export interface ProgressBarOptions {
  /** Where to draw (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Never draw. */
  quiet?: boolean;
  /** Units of work for tick(); a bar with total 0 never draws. */
  total?: number;
}

export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  readonly #total: number | undefined;
  readonly #start = Date.now();
  #last = 0;
  #units = 0;
  #fraction = 0;

  constructor(options: ProgressBarOptions = {}) {
    this.#stream = options.stream ?? process.stderr;
    this.#total = options.total;
    this.#enabled = !options.quiet && this.#stream.isTTY === true && (this.#total === undefined || this.#total > 0);
  }

  /** Draws `fraction` (0..1) of the work done, with `label` saying what is running. */
  update(fraction: number, label: string): void {
    this.#fraction = fraction;
    this.#draw(label, false);
  }

  /** Marks `units` more of `total` done (label: what runs next). */
  tick(label: string, units = 1): void {
    if (this.#total === undefined) throw typeError('tick() needs a ProgressBar built with a total');
    this.#units = Math.min(this.#total, this.#units + units);
    this.#fraction = this.#total > 0 ? this.#units / this.#total : 1;
    this.#draw(label, false);
  }

  /** Redraws with a new label without advancing (not rate-limited). */
  note(label: string): void {
    this.#draw(label, true);
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.#enabled) this.#stream.write('\n');
  }

  #draw(label: string, force: boolean): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < 100 && this.#fraction < 1) return; // redraw at most 10 times a second
    this.#last = now;
    const f = Math.min(1, Math.max(0, this.#fraction));
    const width = 28;
    const filled = Math.round(f * width);
    const elapsed = (now - this.#start) / 1000;
    const eta = f > 0 && f < 1 ? `  ETA ${duration((elapsed * (1 - f)) / f)}` : '';
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(100 * f).toFixed(1).padStart(5)} %  ${label}${eta}`;
    const columns = this.#stream.columns ?? 100;
    this.#stream.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
  }
}

/** A duration for people: 42s, 3m07s, 2h05m. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
