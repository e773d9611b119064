// Stuck sensors: a reading repeated exactly for longer than the sensor ever repeated one in its
// training data (a frozen transmitter, a value held by a gateway after a link fault, a replay).
//
// Why a separate score: the flow cannot see it. A repeated value is what a sensor's own history
// predicts, so its conditional density stays high while the sensor has stopped measuring; the
// fault only shows once the process moves away from the frozen value, if it ever does.
//
// The score is a surprise on the calibration's scale (-log of a tail probability). A run as long
// as the longest in the n training rows is a one-in-(n + 1) event under them; a reading can also
// repeat once by chance beyond it (quantised readings do: 34 traffic detectors that never repeated
// in 500 training rows repeated 3 times in the next 80), so a sensor is stuck only once its run is
// more than twice its longest training run, two such events back to back. From there each further
// stretch as long as the longest run is one more (a geometric tail): ln(n + 1) * (run - 2 longest)
// / longest, softly capped like the flow's surprises. A sensor that never repeated in training
// scores ln(n + 1) at its third identical reading; one whose readings sat still for 72 rows needs
// 216. Runs up to twice the training longest score 0, so normal steps are untouched.
//
// The longest training run is taken at the resolution the sensor now reports: once its last
// GRID_EVIDENCE changes of reading all lie on one of the decimal grids of src/data/repeats.ts, the
// longest training run with the training readings rounded to that grid is used (the coarsest
// such grid); until then, and on no grid, the exact one. Only changes count as evidence, so a
// frozen sensor cannot talk its own grid up.
//
// Only readings count: a cell filled from the previous value (a gap) is not a repeat, it breaks
// the run. State per sensor is the last reading, the run length and a streak per grid: O(K) per
// step and snapshot, the same in batch and stream (both feed the same readings in the same order).
import { z } from 'zod';
import { onGrid, REPEAT_GRIDS, sameReading } from '../data/repeats.ts';
import { softCap } from './calibration.ts';
import type { ScalerState } from '../data/preprocess.ts';

/** Surprise of a run of `run` identical readings for a sensor whose longest training run was `longest` of n rows. */
export function stuckSurprise(run: number, longest: number, n: number): number {
  if (!(longest >= 1) || !(run > 2 * longest)) return 0;
  return softCap((Math.log(n + 1) * (run - 2 * longest)) / longest);
}

/** Changes of reading, in a row, on a grid before a sensor is taken to report on it. */
export const GRID_EVIDENCE = 12;

export const StuckReadingsSnapshotSchema = z.strictObject({
  /** Current run length per sensor (0 = the last step was not read). */
  run: z.array(z.number().int().min(0)),
  /** Per sensor and grid level [K * grids]: changes of reading in a row on that grid (capped at GRID_EVIDENCE). Absent before grids: none seen. */
  onGrid: z.array(z.number().int().min(0)).optional(),
  /** base64 float32 [K*D]: the last step's readings. */
  last: z.string(),
});
export type StuckReadingsSnapshot = z.infer<typeof StuckReadingsSnapshotSchema>;

export class StuckReadings {
  /** Current run of identical readings per sensor, in steps (1 = differs from the step before; 0 = not read). */
  readonly run: Uint32Array;
  private readonly last: Float32Array;
  /** Longest training run per sensor; 0 = unknown (a scaler fitted before it): never stuck. */
  private readonly longest: Uint32Array;
  /** [K * grids]: the same with the training readings rounded to each grid; 0 = unknown. */
  private readonly longestOnGrid: Uint32Array;
  /** [K * grids]: changes of reading in a row that lay on each grid. */
  private readonly streak: Uint8Array;
  private readonly n: number;
  private readonly D: number;

  constructor(scaler: ScalerState) {
    const K = scaler.kept.length;
    this.D = scaler.features.length;
    this.run = new Uint32Array(K);
    this.last = new Float32Array(K * this.D).fill(Number.NaN);
    this.longest = Uint32Array.from(scaler.kept, (s) => s.longestRepeat ?? 0);
    this.longestOnGrid = Uint32Array.from(scaler.kept.flatMap((s) => s.longestRepeatOnGrids ?? REPEAT_GRIDS.map(() => 0)));
    this.streak = new Uint8Array(K * REPEAT_GRIDS.length);
    this.n = scaler.nTrain;
  }

  /** The longest training run sensor k's current run is measured against: at the coarsest grid its readings are on. */
  longestFor(k: number): number {
    if (this.longest[k] === 0) return 0; // a scaler fitted before stuck readings: never stuck
    const G = REPEAT_GRIDS.length;
    for (let j = G - 1; j >= 0; j--) if (this.streak[k * G + j] >= GRID_EVIDENCE && this.longestOnGrid[k * G + j] > 0) return this.longestOnGrid[k * G + j];
    return this.longest[k];
  }

  /**
   * Takes one step's readings row[offset .. offset + K*D) (sensor units, model order) and writes
   * each sensor's stuck surprise to out[0..K). unread[unreadOffset + k] (optional) marks a sensor
   * whose value at this step was filled in, not read.
   */
  push(row: ArrayLike<number>, offset: number, unread: ArrayLike<number> | null, unreadOffset: number, out: Float32Array): void {
    const { D } = this;
    for (let k = 0; k < this.run.length; k++) {
      if (unread?.[unreadOffset + k]) {
        this.run[k] = 0;
        this.last.fill(Number.NaN, k * D, (k + 1) * D);
        out[k] = 0;
        continue;
      }
      const read = this.run[k] > 0;
      this.run[k] = read && sameReading(row, offset, this.last, 0, k, D) ? this.run[k] + 1 : 1;
      if (read && this.run[k] === 1) {
        const G = REPEAT_GRIDS.length;
        for (let j = 0; j < G; j++) this.streak[k * G + j] = onGrid(row, offset, k, D, REPEAT_GRIDS[j]) ? Math.min(GRID_EVIDENCE, this.streak[k * G + j] + 1) : 0;
      }
      for (let d = 0; d < D; d++) this.last[k * D + d] = row[offset + k * D + d];
      out[k] = stuckSurprise(this.run[k], this.longestFor(k), this.n);
    }
  }

  /** Whether sensor k's current run is more than twice as long as any in its training data (it scores). */
  isStuck(k: number): boolean {
    const longest = this.longestFor(k);
    return longest >= 1 && this.run[k] > 2 * longest;
  }

  snapshot(): StuckReadingsSnapshot {
    return { run: Array.from(this.run), onGrid: Array.from(this.streak), last: Buffer.from(this.last.buffer, this.last.byteOffset, this.last.byteLength).toString('base64') };
  }

  /** The tracker a snapshot describes, for the scaler's sensors; refused when it was taken for other sensors. */
  static restore(scaler: ScalerState, raw: unknown): StuckReadings {
    const s = StuckReadingsSnapshotSchema.parse(raw);
    const out = new StuckReadings(scaler);
    const last = Buffer.from(s.last, 'base64');
    if (s.run.length !== out.run.length) throw new Error(`stuck-readings snapshot has ${s.run.length} sensors, the model ${out.run.length}`);
    if (last.byteLength !== out.last.byteLength) throw new Error(`stuck-readings snapshot: last holds ${last.byteLength / 4} values, expected ${out.last.length}`);
    if (s.onGrid && s.onGrid.length !== out.streak.length) throw new Error(`stuck-readings snapshot: onGrid holds ${s.onGrid.length} values, expected ${out.streak.length}`);
    out.run.set(s.run);
    if (s.onGrid) out.streak.set(s.onGrid);
    out.last.set(new Float32Array(last.buffer.slice(last.byteOffset, last.byteOffset + last.byteLength)));
    return out;
  }
}

/** Per sensor, from the stuck (step, sensor, run) cells of a scored table: how many stuck runs, and the longest (in steps). */
export function summariseStuck(cells: readonly { t: number; sensor: string; steps: number }[]): { sensor: string; runs: number; longestSteps: number }[] {
  const by = new Map<string, { runs: number; longestSteps: number; lastT: number }>();
  for (const c of cells) {
    const s = by.get(c.sensor) ?? by.set(c.sensor, { runs: 0, longestSteps: 0, lastT: -2 }).get(c.sensor)!;
    if (c.t !== s.lastT + 1) s.runs++;
    s.lastT = c.t;
    s.longestSteps = Math.max(s.longestSteps, c.steps);
  }
  return [...by].map(([sensor, s]) => ({ sensor, runs: s.runs, longestSteps: s.longestSteps })).sort((a, b) => b.longestSteps - a.longestSteps);
}
