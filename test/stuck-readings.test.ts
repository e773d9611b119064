// Stuck readings: closed forms for the longest training repeat, the surprise of a longer run, and
// the tracker that batch and stream share (a filled gap is not a repeat; snapshots are exact).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longestRepeat, onGrid, REPEAT_GRIDS } from '../src/data/repeats.ts';
import { fitScaler } from '../src/data/preprocess.ts';
import { fillMissing } from '../src/data/missing.ts';
import { SURPRISE_SOFT_CAP } from '../src/scoring/calibration.ts';
import { GRID_EVIDENCE, StuckReadings, stuckSurprise, summariseStuck } from '../src/scoring/stuck-readings.ts';
import type { SeriesTable } from '../src/data/table.ts';

/** A table with one feature per sensor from columns of values, hourly. */
function table(cols: Record<string, number[]>): SeriesTable {
  const sensors = Object.keys(cols);
  const T = cols[sensors[0]].length;
  const values = new Float32Array(T * sensors.length);
  sensors.forEach((s, k) => cols[s].forEach((v, t) => { values[t * sensors.length + k] = v; }));
  return { timestamps: Float64Array.from({ length: T }, (_, t) => t * 3_600_000), sensors, features: ['value'], values };
}

/** Feeds rows [n][K] (one feature) through a tracker: each row's stuck surprises. */
function feed(s: StuckReadings, rows: number[][], unread?: number[][]): number[][] {
  return rows.map((r, t) => {
    const out = new Float32Array(r.length);
    s.push(r, 0, unread?.[t] ?? null, 0, out);
    return Array.from(out);
  });
}

test('longestRepeat counts rows of one repeated reading, every feature of the sensor repeating', () => {
  // K=1, D=1: runs 1, 3 (2,2,2), 2 (3,3).
  assert.equal(longestRepeat([1, 2, 2, 2, 3, 3], 6, 1, 1, 0), 3);
  assert.equal(longestRepeat([1, 2, 3], 3, 1, 1, 0), 1);
  // K=1, D=2: the second feature moves at row 2, so only rows 0-1 repeat.
  assert.equal(longestRepeat([5, 1, 5, 1, 5, 2], 3, 1, 2, 0), 2);
  // K=2, D=1: sensor 1 repeats 4 rows while sensor 0 moves.
  assert.equal(longestRepeat([0, 7, 1, 7, 2, 7, 3, 7], 4, 2, 1, 1), 4);
  assert.equal(longestRepeat([0, 7, 1, 7, 2, 7, 3, 7], 4, 2, 1, 0), 1);
});

test('longestRepeat on a decimal grid counts runs of the readings rounded to it; onGrid tells the grid a reading lies on', () => {
  // Hundredths: 298, 298, 298, 299, 299.
  assert.equal(longestRepeat([2.981, 2.984, 2.979, 2.991, 2.994], 5, 1, 1, 0), 1);
  assert.equal(longestRepeat([2.981, 2.984, 2.979, 2.991, 2.994], 5, 1, 1, 0, 0.01), 3);
  assert.equal(onGrid([Math.fround(2.98)], 0, 0, 1, 0.01), true, 'float32 2.98 lies on the hundredths');
  assert.equal(onGrid([2.981], 0, 0, 1, 0.01), false);
  assert.equal(onGrid([2.981], 0, 0, 1, 0.001), true);
  assert.equal(onGrid([7, 2.5], 0, 0, 2, 1), false, 'every feature must lie on it');
});

test('fitScaler keeps each sensor\'s longest training repeat', () => {
  const s = fitScaler(table({ a: [1, 2, 2, 2, 3, 4, 5, 6, 7, 8], b: [1, 3, 2, 5, 4, 6, 8, 7, 9, 0] }));
  assert.deepEqual(s.kept.map((k) => k.longestRepeat), [3, 1]);
});

test('stuckSurprise: 0 up to twice the longest training run, then ln(n+1) per further stretch as long as it', () => {
  assert.equal(stuckSurprise(1, 1, 99), 0);
  assert.equal(stuckSurprise(2, 1, 99), 0, 'one chance repeat beyond the training longest is not stuck');
  assert.equal(stuckSurprise(3, 1, 99), Math.log(100));
  assert.equal(stuckSurprise(4, 1, 99), 2 * Math.log(100));
  assert.equal(stuckSurprise(8, 4, 99), 0);
  assert.equal(stuckSurprise(10, 4, 99), Math.log(100) / 2);
  assert.equal(stuckSurprise(16, 4, 99), 2 * Math.log(100));
  // Unknown longest run (a scaler fitted before it): never stuck.
  assert.equal(stuckSurprise(50, 0, 99), 0);
  // Softly capped like the flow's surprises.
  const s = stuckSurprise(100, 1, 99);
  assert.equal(s, SURPRISE_SOFT_CAP + Math.log1p(98 * Math.log(100) - SURPRISE_SOFT_CAP));
});

test('StuckReadings: a run past twice the training longest scores, a new reading ends it, an unread step breaks it', () => {
  // Sensor a never repeats in 9 rows (longest 1), b's longest run is 2.
  const scaler = fitScaler(table({ a: [1, 2, 3, 4, 5, 6, 7, 8, 9], b: [1, 1, 2, 3, 4, 5, 6, 7, 8] }));
  const ln10 = Math.log(10);
  const s = new StuckReadings(scaler);
  const out = feed(s, [[1, 5], [1, 5], [1, 5], [1, 5], [1, 5], [1, 5], [2, 5]]);
  const f = Math.fround;
  assert.deepEqual(out.map((r) => r[0]), [0, 0, f(ln10), f(2 * ln10), f(3 * ln10), f(4 * ln10), 0]);
  assert.deepEqual(out.map((r) => r[1]), [0, 0, 0, 0, f(ln10 / 2), f(ln10), f(1.5 * ln10)]);
  assert.equal(s.isStuck(0), false);
  assert.equal(s.isStuck(1), true);
  assert.equal(s.run[1], 7);
  // A value carried into a gap is not a reading: the run restarts after it.
  const g = new StuckReadings(scaler);
  const gap = feed(g, [[1, 5], [1, 6], [1, 7], [1, 8], [1, 9]], [[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]]);
  assert.deepEqual(gap.map((r) => r[0]), [0, 0, 0, 0, 0]);
  // Values compared as float32: float64 readings that round to the same float32 are a repeat, as in a float32 table.
  const h = new StuckReadings(scaler);
  assert.deepEqual(feed(h, [[0.1, 1], [Math.fround(0.1), 2], [0.1, 3]]).map((r) => r[0]), [0, 0, f(ln10)]);
});

test('StuckReadings measures a run against the training longest at the grid the readings now lie on; a frozen sensor cannot talk its grid up', () => {
  // Training moves by a thousandth per row: never an exact repeat, 10 rows per hundredth.
  const a = Array.from({ length: 40 }, (_, t) => 1 + 0.001 * t);
  const scaler = fitScaler(table({ a }));
  assert.equal(scaler.kept[0].longestRepeat, 1);
  assert.deepEqual(scaler.kept[0].longestRepeatOnGrids, REPEAT_GRIDS.map((g) => longestRepeat(Float32Array.from(a), 40, 1, 1, 0, g)));
  const hundredths = scaler.kept[0].longestRepeatOnGrids![REPEAT_GRIDS.indexOf(0.01)];
  assert.equal(hundredths, 10);
  // Readings rounded to hundredths: after GRID_EVIDENCE changes on that grid, a run counts against 10.
  const steps = Array.from({ length: GRID_EVIDENCE + 1 }, (_, i) => [1 + i / 100]);
  const hold = Array.from({ length: 2 * hundredths + 1 }, () => [1 + GRID_EVIDENCE / 100]);
  const out = feed(new StuckReadings(scaler), [...steps, ...hold]).map((r) => r[0]);
  const runs = out.slice(GRID_EVIDENCE); // the last changed reading, then its repeats: runs 1, 2, ...
  assert.deepEqual(runs.slice(0, 2 * hundredths), new Array(2 * hundredths).fill(0), 'up to twice the rounded training longest is not stuck');
  assert.equal(runs[2 * hundredths], Math.fround(Math.log(41) / hundredths));
  // One change short of the evidence: still measured against the exact longest (1), stuck at its third reading.
  const early = feed(new StuckReadings(scaler), [...steps.slice(1), ...hold]).map((r) => r[0]);
  assert.equal(early[GRID_EVIDENCE - 1 + 2], Math.fround(Math.log(41)));
  // Full-precision readings, then frozen: the repeats are not changes, so the grid stays exact.
  const fine = Array.from({ length: GRID_EVIDENCE + 1 }, (_, i) => [1 + i * 0.00137]);
  const frozen = feed(new StuckReadings(scaler), [...fine, [fine[GRID_EVIDENCE][0]], [fine[GRID_EVIDENCE][0]]]).map((r) => r[0]);
  assert.equal(frozen.at(-1), Math.fround(Math.log(41)));
  // A scaler fitted before stuck readings (no longest run) is never stuck, whatever grid its readings lie on.
  const old = { ...scaler, kept: scaler.kept.map((k) => ({ ...k, longestRepeat: undefined, longestRepeatOnGrids: undefined })) };
  assert.deepEqual(feed(new StuckReadings(old), [...steps, ...hold]).map((r) => r[0]), new Array(steps.length + hold.length).fill(0));
});

test('StuckReadings snapshot mid-run resumes as an uninterrupted run; other sensors are refused', () => {
  const scaler = fitScaler(table({ a: [1, 2, 3, 4, 5, 6, 7, 8, 9], b: [1, 1, 1, 2, 3, 4, 5, 6, 7] }));
  const rows = [[1, 5], [1, 5], [2, 5], [2, 5], [2, 5], [2, 5], [3, 5]];
  const whole = feed(new StuckReadings(scaler), rows);
  const first = new StuckReadings(scaler);
  feed(first, rows.slice(0, 4));
  const resumed = StuckReadings.restore(scaler, JSON.parse(JSON.stringify(first.snapshot())));
  assert.deepEqual(feed(resumed, rows.slice(4)), whole.slice(4));
  const other = fitScaler(table({ a: [1, 2, 3, 4], b: [1, 2, 3, 4], c: [4, 3, 2, 1] }));
  assert.throws(() => StuckReadings.restore(other, first.snapshot()), /2 sensors, the model 3/);
});

test('summariseStuck: runs and the longest per sensor, longest first', () => {
  const cells = [{ t: 3, sensor: 'a', steps: 3 }, { t: 4, sensor: 'a', steps: 4 }, { t: 9, sensor: 'a', steps: 2 }, { t: 5, sensor: 'b', steps: 7 }];
  assert.deepEqual(summariseStuck(cells), [{ sensor: 'b', runs: 1, longestSteps: 7 }, { sensor: 'a', runs: 2, longestSteps: 4 }]);
});

test('fillMissing marks the cells it filled, in the rows it keeps', () => {
  // a: a 1-step gap (filled) and a 3-step gap (past the limit: its rows are dropped).
  const t = table({ a: [1, NaN, 3, NaN, NaN, NaN, 7, 8], b: [1, 2, 3, 4, 5, 6, 7, 8] });
  const { table: out, filledCells, report } = fillMissing(t, { limit: 1, onLongGap: 'drop-rows' });
  assert.equal(report.droppedRows, 3);
  assert.equal(out.timestamps.length, 5);
  assert.deepEqual(Array.from(filledCells), [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(fillMissing(t, { limit: 3 }).filledCells), [0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
});
