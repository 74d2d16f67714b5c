/** A one-line progress bar on stderr, drawn only when stderr is a terminal (never into logs or pipes). */
export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  readonly #start = Date.now();
  #last = 0;

  constructor(options: { stream?: NodeJS.WriteStream; quiet?: boolean } = {}) {
    this.#stream = options.stream ?? process.stderr;
    this.#enabled = !options.quiet && this.#stream.isTTY === true;
  }

  update(fraction: number, label: string): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#last < 100 && fraction < 1) return; // redraw at most 10 times a second
    this.#last = now;
    const f = Math.min(1, Math.max(0, fraction));
    const width = 28;
    const filled = Math.round(f * width);
    const elapsed = (now - this.#start) / 1000;
    const eta = f > 0 && f < 1 ? `  ETA ${duration((elapsed * (1 - f)) / f)}` : '';
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(100 * f).toFixed(1).padStart(5)} %  ${label}${eta}`;
    const columns = this.#stream.columns ?? 100;
    this.#stream.write(`\r${line.slice(0, columns - 1).padEnd(columns - 1)}`);
  }

  done(): void {
    if (this.#enabled) this.#stream.write('\n');
  }
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
