// The drift-tolerant surprise baseline: closed forms for when and by how much a sensor's surprise
// is reduced, that a short incident is not absorbed, and exact snapshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASELINE_BUCKETS, baselineBucketSteps, DRIFTED_SHIFT, histogramMedian, SurpriseBaseline, VALIDATION_MEDIAN_SURPRISE } from '../src/scoring/surprise-baseline.ts';

/** Feeds rows [n][K] through the baseline, returning the adjusted rows. */
function run(b: SurpriseBaseline, rows: number[][]): number[][] {
  return rows.map((r) => {
    const x = Float64Array.from(r);
    b.adjust(x);
    return Array.from(x);
  });
}
const repeat = (row: number[], n: number) => Array.from({ length: n }, () => row);

test('baselineBucketSteps: a quarter of a day of steps, at least 6', () => {
  assert.equal(baselineBucketSteps(300_000), 72);
  assert.equal(baselineBucketSteps(3_600_000), 6);
  assert.equal(baselineBucketSteps(86_400_000), 6);
  assert.equal(baselineBucketSteps(1000), 21_600);
  assert.throws(() => baselineBucketSteps(0), /intervalMs/);
});

test('histogramMedian interpolates inside the bin that holds the median', () => {
  const counts = new Array(65).fill(0);
  counts[2] = 4; // 4 values in [0.5, 0.75)
  assert.equal(histogramMedian(counts, 4), (2 + 2 / 4) * 0.25);
  counts[10] = 4; // and 4 in [2.5, 2.75): the 4th value closes bin 2
  assert.equal(histogramMedian(counts, 8), 0.75);
  const regime = new Array(65).fill(0);
  regime[32 + 7] = 3; // 3 values in [15, 16) (1 wide above 8)
  regime[1] = 2;
  assert.equal(histogramMedian(regime, 5), 15 + 0.5 / 3);
  const overflow = new Array(65).fill(0);
  overflow[64] = 5;
  assert.equal(histogramMedian(overflow, 5), 40);
});

test('a level held for half of the week starts to be taken off, one held longer fully; before that, nothing is', () => {
  const B = 10;
  const b = new SurpriseBaseline(2, B);
  const half = BASELINE_BUCKETS / 2;
  // Sensor 0 drifts to surprise 3 (bin [3, 3.25): bucket median 3.125); sensor 1 stays normal at 0.5.
  const before = run(b, repeat([3, 0.5], (half - 1) * B));
  assert.deepEqual(b.drifted(), [], 'nothing has drifted before half the week');
  before.push(...run(b, repeat([3, 0.5], B)));
  for (const r of before) assert.deepEqual(r, [3, 0.5]);
  const full = 3.125 - VALIDATION_MEDIAN_SURPRISE;
  assert.deepEqual(b.drifted(), [0], `halfway (${full / 2}) is past DRIFTED_SHIFT ${DRIFTED_SHIFT}: sensor 0 is reported`);
  // Half the buckets at the new level: the median is halfway.
  assert.ok(Math.abs(b.shift[0] - full / 2) < 1e-6, `shift ${b.shift[0]}`);
  assert.equal(b.shift[1], 0, 'a sensor below its validation median is not shifted up');
  const [halfway] = run(b, repeat([3, 0.5], B));
  assert.ok(Math.abs(halfway[0] - (3 - full / 2)) < 1e-6);
  assert.ok(Math.abs(b.shift[0] - full) < 1e-6, `shift ${b.shift[0]}`);
  const [after] = run(b, [[3, 0.5]]);
  assert.ok(Math.abs(after[0] - (3 - full)) < 1e-6);
  assert.equal(after[1], 0.5);
  // An incident on top of the drift still stands out by what it adds to the new level; and the
  // adjusted surprise never goes below 0.
  const [spike, low] = run(b, [[20, 0.5], [0.1, 0.5]]);
  assert.ok(Math.abs(spike[0] - (20 - full)) < 1e-5);
  assert.equal(low[0], 0);
});

test('an incident shorter than half the week is not absorbed, and the level comes back when it ends', () => {
  const B = 10;
  const b = new SurpriseBaseline(1, B);
  run(b, repeat([0.5], BASELINE_BUCKETS * B));
  const incident = run(b, repeat([12], (BASELINE_BUCKETS / 2 - 1) * B));
  for (const [s] of incident) assert.equal(s, 12);
  assert.equal(b.shift[0], 0);
  // Two buckets more (more than half a week) and the level is the new normal (bin [12, 13): 12.5) ...
  run(b, repeat([12], 2 * B));
  assert.ok(Math.abs(b.shift[0] - (12.5 - Math.LN2)) < 1e-6, `shift ${b.shift[0]}`);
  // ... and more than half a week back at normal returns it to 0.
  run(b, repeat([0.5], (BASELINE_BUCKETS / 2 + 1) * B));
  assert.equal(b.shift[0], 0);
});

test('a snapshot mid-bucket resumes with the numbers of an uninterrupted run; a mismatched one is refused', () => {
  const rows = Array.from({ length: 200 }, (_, t) => [((t * 7) % 13) / 2, t > 30 ? 4 + (t % 3) : 0.3]);
  const whole = run(new SurpriseBaseline(2, 8), rows);
  const a = new SurpriseBaseline(2, 8);
  const first = run(a, rows.slice(0, 101));
  const snap = JSON.parse(JSON.stringify(a.snapshot()));
  const b = SurpriseBaseline.restore(2, 8, snap);
  assert.deepEqual([...first, ...run(b, rows.slice(101))], whole);
  assert.ok(whole.some((r, t) => r[1] !== rows[t][1]), 'the run must reach a shifted level to test anything');
  assert.throws(() => SurpriseBaseline.restore(2, 9, snap), /buckets of 8 steps/);
  assert.throws(() => SurpriseBaseline.restore(3, 8, snap), /medians hold/);
});
