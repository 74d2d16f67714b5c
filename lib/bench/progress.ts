/**
 * A one-line progress bar on stderr for long sweeps. It draws only when stderr is a terminal, so logs, pipes and CI
 * output stay clean (the table goes to stdout either way).
 */
export class Progress {
  private done = 0;
  private readonly start = performance.now();
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.stream = stream;
    this.enabled = Boolean(stream.isTTY) && total > 0;
  }
  private readonly stream: NodeJS.WriteStream;

  /** Marks one unit done (label: what runs next). */
  tick(label: string, units = 1): void {
    this.done = Math.min(this.total, this.done + units);
    this.draw(label);
  }

  /** Redraws with a new label without advancing. */
  note(label: string): void {
    this.draw(label);
  }

  private draw(label: string): void {
    if (!this.enabled) return;
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 60));
    const f = this.done / this.total;
    const filled = Math.round(f * width);
    const elapsed = (performance.now() - this.start) / 1000;
    const eta = f > 0 ? (elapsed / f) * (1 - f) : Number.NaN;
    const text =
      `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ` +
      `${fmtTime(elapsed)}${Number.isFinite(eta) ? ` eta ${fmtTime(eta)}` : ''}  ${label}`;
    this.stream.write(`\r\x1b[2K${text.slice(0, (this.stream.columns ?? 120) - 1)}`);
  }

  /** Clears the line. */
  end(): void {
    if (this.enabled) this.stream.write('\r\x1b[2K');
  }
}

function fmtTime(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}
