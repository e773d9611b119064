// A single self-overwriting progress line on a terminal; silent when stderr is not a TTY so logs
// and CI output stay clean.
export class ProgressLine {
  private readonly enabled = Boolean(process.stderr.isTTY) && process.env.GANF_QUIET !== '1';
  private last = 0;

  constructor(private readonly total: number) {}

  update(step: number, text: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && step < this.total) return;
    this.last = now;
    const width = 24;
    const filled = Math.round((step / this.total) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${step}/${this.total} ${text}\x1b[K`);
  }

  done(): void {
    if (this.enabled) process.stderr.write('\n');
  }
}
