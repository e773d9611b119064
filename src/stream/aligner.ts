/**
 * Event-time alignment of one site's readings onto the model's sampling grid: a pure state
 * machine with a watermark (no clocks, no I/O).
 *
 * - A reading at event time t belongs to step round(t / interval) ('nearest', tolerant of clock
 *   jitter around the nominal sampling instant) or floor(t / interval) ('floor').
 * - The watermark is the largest event time seen minus the allowed lateness. A step closes when
 *   the watermark passes its bucket's end, or as soon as every (sensor, feature) cell has a
 *   reading and all earlier steps are closed (so complete data is scored without waiting).
 *   A complete bucket is sealed: later readings for it are counted as duplicates.
 * - A reading for a closed step (or a bucket the watermark already passed) is late: counted, dropped.
 * - Two readings for the same cell of an open bucket: the later event time wins; on a tie, the
 *   later arrival (a correction).
 * - Closing a step fills a missing cell with the cell's last value for up to carryForwardSteps
 *   consecutive steps; beyond that (or with no value ever seen) the step is degraded and the
 *   cell gets the last value or, failing that, the fallback (the training mean).
 * - A silent stretch longer than maxGapSteps is not filled: the series restarts after it.
 *
 * Steps are closed after every reading, so what is emitted is a function of the reading sequence
 * alone, not of how it was batched: a replay from a checkpoint makes the same decisions.
 */
import { z } from 'zod';
import type { AlignConfig } from './config.ts';

export interface AlignedStep {
  /** Step index: tsMs / intervalMs. */
  step: number;
  tsMs: number;
  /** Raw values, one per cell (sensor-major, then feature), in model order. */
  values: Float64Array;
  /** Cells filled by carrying the last value forward within the limit. */
  filled: number;
  /** Those cells (filled: their count). */
  carried: number[];
  /** Cells without a reading beyond the carry-forward limit (the step is degraded when non-empty). */
  missing: number[];
  degraded: boolean;
  /** This step starts a series: the first step, or the first after a gap longer than maxGapSteps. */
  restart: boolean;
  /** Latest arrival time (e.g. the producer's timestamp) of a reading in this step; -Infinity if none. */
  lastArrivalMs: number;
  /** Largest source position (e.g. the Kafka offset) of a reading in this step; NaN if none. */
  lastSource: number;
}

export type AddResult = 'accepted' | 'replaced' | 'late' | 'duplicate' | 'superseded';

export interface AlignerCounters {
  accepted: number;
  /** Readings that replaced an earlier reading of the same cell in an open bucket. */
  replaced: number;
  /** Readings older than the cell's current reading in an open bucket (kept the newer one). */
  superseded: number;
  late: number;
  duplicates: number;
  emittedSteps: number;
  filledCells: number;
  degradedSteps: number;
  restarts: number;
}

interface Bucket {
  values: Float64Array;
  eventMs: Float64Array;
  present: number;
  sealed: boolean;
  lastArrivalMs: number;
  lastSource: number;
}

const NumOrNull = z.number().nullable();
export const AlignerStateSchema = z.strictObject({
  cells: z.number().int().positive(),
  nextStep: z.number().int().nullable(),
  maxEventMs: z.number().nullable(),
  restartNext: z.boolean(),
  last: z.array(NumOrNull),
  carried: z.array(z.number().int()),
  pending: z.array(z.strictObject({
    step: z.number().int(),
    values: z.array(NumOrNull),
    eventMs: z.array(NumOrNull),
    present: z.number().int(),
    sealed: z.boolean(),
    lastArrivalMs: NumOrNull,
    lastSource: NumOrNull.optional(),
  })),
  counters: z.strictObject({
    accepted: z.number(), replaced: z.number(), superseded: z.number(), late: z.number(), duplicates: z.number(),
    emittedSteps: z.number(), filledCells: z.number(), degradedSteps: z.number(), restarts: z.number(),
  }),
});
export type AlignerState = z.infer<typeof AlignerStateSchema>;

const toJson = (a: ArrayLike<number>): (number | null)[] => Array.from(a, (v) => (Number.isFinite(v) ? v : null));
const fromJson = (a: (number | null)[], fill: number): Float64Array => Float64Array.from(a, (v) => (v === null ? fill : v));

export class StepAligner {
  private nextStep: number | null = null;
  private maxEventMs = -Infinity;
  private restartNext = true;
  private readonly pending = new Map<number, Bucket>();
  private readonly last: Float64Array;
  private readonly carried: Int32Array;
  private readonly ready: AlignedStep[] = [];
  readonly counters: AlignerCounters = {
    accepted: 0, replaced: 0, superseded: 0, late: 0, duplicates: 0, emittedSteps: 0, filledCells: 0, degradedSteps: 0, restarts: 0,
  };

  /**
   * @param cells K*D cells per step.
   * @param fallback per cell, the value used for a degraded cell that never had a reading (e.g. the training mean).
   */
  constructor(
    private readonly intervalMs: number,
    private readonly cells: number,
    private readonly config: AlignConfig,
    private readonly fallback: Float64Array,
  ) {
    if (!(intervalMs > 0)) throw new Error(`StepAligner: intervalMs must be positive, got ${intervalMs}`);
    if (fallback.length !== cells) throw new Error(`StepAligner: fallback has ${fallback.length} values for ${cells} cells`);
    this.last = new Float64Array(cells).fill(Number.NaN);
    this.carried = new Int32Array(cells);
  }

  stepOf(tsMs: number): number {
    const x = tsMs / this.intervalMs;
    return this.config.bucket === 'nearest' ? Math.round(x) : Math.floor(x);
  }

  /** Event time at which a step's bucket ends (readings up to here belong to it). */
  private bucketEnd(step: number): number {
    return (this.config.bucket === 'nearest' ? step + 0.5 : step + 1) * this.intervalMs;
  }

  private watermark(): number {
    return this.maxEventMs - this.config.allowedLatenessMs;
  }

  /** Largest event time seen so far (-Infinity before the first reading). */
  get maxEventTime(): number {
    return this.maxEventMs;
  }

  /** Open (not yet emitted) steps. */
  get pendingSteps(): number {
    return this.pending.size;
  }

  /**
   * One reading of cell `cell` (sensor index * D + feature index). `arrivalMs` is only carried
   * along for latency, `source` (e.g. the Kafka offset) to point back at a step's input.
   */
  add(cell: number, tsMs: number, value: number, arrivalMs = -Infinity, source = Number.NaN): AddResult {
    if (!(cell >= 0 && cell < this.cells)) throw new Error(`StepAligner.add: cell ${cell} out of range`);
    const step = this.stepOf(tsMs);
    if ((this.nextStep !== null && step < this.nextStep) || this.bucketEnd(step) <= this.watermark()) {
      this.counters.late++;
      return 'late';
    }
    let b = this.pending.get(step);
    if (!b) {
      b = { values: new Float64Array(this.cells).fill(Number.NaN), eventMs: new Float64Array(this.cells).fill(Number.NaN), present: 0, sealed: false, lastArrivalMs: -Infinity, lastSource: Number.NaN };
      this.pending.set(step, b);
    }
    if (b.sealed) {
      this.counters.duplicates++;
      return 'duplicate';
    }
    let result: AddResult = 'accepted';
    if (Number.isNaN(b.eventMs[cell])) {
      b.present++;
      this.counters.accepted++;
    } else if (tsMs >= b.eventMs[cell]) {
      result = 'replaced';
      this.counters.replaced++;
    } else {
      this.counters.superseded++;
      return 'superseded';
    }
    b.values[cell] = value;
    b.eventMs[cell] = tsMs;
    if (arrivalMs > b.lastArrivalMs) b.lastArrivalMs = arrivalMs;
    if (!Number.isNaN(source) && !(source <= b.lastSource)) b.lastSource = source;
    if (b.present === this.cells) b.sealed = true;
    if (tsMs > this.maxEventMs) this.maxEventMs = tsMs;
    this.close(false);
    return result;
  }

  /** Time of the newest closed step not yet taken (-Infinity if none). */
  get lastReadyTsMs(): number {
    return this.ready.length > 0 ? this.ready[this.ready.length - 1].tsMs : -Infinity;
  }

  hasReady(): boolean {
    return this.ready.length > 0;
  }

  /** Closed steps since the last call, in step order. */
  takeReady(): AlignedStep[] {
    return this.ready.splice(0, this.ready.length);
  }

  /** Closes every open step now (filling gaps as usual; e.g. the site went silent); they become ready. */
  closeOpen(): void {
    this.close(true);
  }

  /** End of a finite stream: closes every open step (filling gaps as usual). */
  flush(): AlignedStep[] {
    this.close(true);
    return this.takeReady();
  }

  private closable(s: number, all: boolean, wm: number): boolean {
    return all || this.bucketEnd(s) <= wm;
  }

  private close(all: boolean): void {
    const wm = this.watermark();
    for (;;) {
      if (this.pending.size === 0) return;
      let s = this.nextStep;
      if (s === null) s = this.minPending();
      const b = this.pending.get(s);
      if (b) {
        if (!((this.config.emitWhenComplete && b.sealed) || this.closable(s, all, wm))) return;
        this.pending.delete(s);
        this.emit(s, b);
        continue;
      }
      // Step s has no readings at all.
      if (!this.closable(s, all, wm)) return;
      const nextPending = this.minPending();
      // Empty closable steps from s up to the next pending step or the last closable one.
      let end = nextPending;
      if (!all && !this.closable(nextPending - 1, all, wm)) {
        end = this.stepOf(wm);
        while (end >= s && !this.closable(end, all, wm)) end--;
        end++;
      }
      if (end - s > this.config.maxGapSteps) {
        // Too long to fill: restart the series after the gap.
        this.nextStep = end;
        this.restartNext = true;
        this.last.fill(Number.NaN);
        this.carried.fill(0);
        this.counters.restarts++;
        continue;
      }
      for (let t = s; t < end; t++) this.emit(t, undefined);
    }
  }

  private minPending(): number {
    let m = Infinity;
    for (const k of this.pending.keys()) if (k < m) m = k;
    return m;
  }

  private emit(step: number, b: Bucket | undefined): void {
    const values = new Float64Array(this.cells);
    const missing: number[] = [];
    const carried: number[] = [];
    for (let i = 0; i < this.cells; i++) {
      const v = b ? b.values[i] : Number.NaN;
      if (!Number.isNaN(v)) {
        values[i] = v;
        this.last[i] = v;
        this.carried[i] = 0;
        continue;
      }
      const known = !Number.isNaN(this.last[i]);
      if (known && this.carried[i] < this.config.carryForwardSteps) carried.push(i);
      else missing.push(i);
      values[i] = known ? this.last[i] : this.fallback[i];
      this.carried[i]++;
    }
    const out: AlignedStep = {
      step, tsMs: step * this.intervalMs, values, filled: carried.length, carried, missing, degraded: missing.length > 0,
      restart: this.restartNext, lastArrivalMs: b ? b.lastArrivalMs : -Infinity, lastSource: b ? b.lastSource : Number.NaN,
    };
    this.restartNext = false;
    this.nextStep = step + 1;
    this.counters.emittedSteps++;
    this.counters.filledCells += carried.length;
    if (out.degraded) this.counters.degradedSteps++;
    this.ready.push(out);
  }

  /** JSON-serialisable state; only valid with no undelivered ready steps. */
  snapshot(): AlignerState {
    if (this.ready.length > 0) throw new Error('StepAligner.snapshot: take the ready steps first');
    return {
      cells: this.cells,
      nextStep: this.nextStep,
      maxEventMs: Number.isFinite(this.maxEventMs) ? this.maxEventMs : null,
      restartNext: this.restartNext,
      last: toJson(this.last),
      carried: Array.from(this.carried),
      pending: [...this.pending.entries()].sort((a, b) => a[0] - b[0]).map(([step, b]) => ({
        step, values: toJson(b.values), eventMs: toJson(b.eventMs), present: b.present, sealed: b.sealed,
        lastArrivalMs: Number.isFinite(b.lastArrivalMs) ? b.lastArrivalMs : null,
        lastSource: Number.isFinite(b.lastSource) ? b.lastSource : null,
      })),
      counters: { ...this.counters },
    };
  }

  static restore(intervalMs: number, config: AlignConfig, fallback: Float64Array, raw: unknown): StepAligner {
    const s = AlignerStateSchema.parse(raw);
    if (s.cells !== fallback.length) throw new Error(`StepAligner.restore: state has ${s.cells} cells, model has ${fallback.length}`);
    const a = new StepAligner(intervalMs, s.cells, config, fallback);
    a.nextStep = s.nextStep;
    a.maxEventMs = s.maxEventMs ?? -Infinity;
    a.restartNext = s.restartNext;
    a.last.set(fromJson(s.last, Number.NaN));
    a.carried.set(s.carried);
    for (const p of s.pending) {
      a.pending.set(p.step, {
        values: fromJson(p.values, Number.NaN), eventMs: fromJson(p.eventMs, Number.NaN), present: p.present, sealed: p.sealed,
        lastArrivalMs: p.lastArrivalMs ?? -Infinity, lastSource: p.lastSource ?? Number.NaN,
      });
    }
    Object.assign(a.counters, s.counters);
    return a;
  }
}
