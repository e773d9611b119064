import { seededUniform } from '../src/util/rng.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  auroc,
  auprc,
  bestF1,
  pointAdjustedF1,
  pointAdjustAlerts,
  events,
  eventMetrics,
  pointMetrics,
  edgeAuroc,
  cellAuroc,
} from '../src/scoring/metrics.ts';
import { alertEpisodes, detectionMetrics, spanDays } from '../src/scoring/backtest.ts';
import { quantileThreshold } from '../src/scoring/threshold.ts';
import { fitZScoreBaseline, scoreZScore } from '../src/scoring/baselines/zscore.ts';
import type { SeriesTable } from '../src/data/table.ts';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

const rng = seededUniform;

test('AUROC with ties: tied pos/neg pairs count one half', () => {
  // Pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>both, 0.4>0.1, 0.4=0.4 -> (1+0+1+1+1+0.5)/6.
  close(auroc([0.1, 0.4, 0.35, 0.8, 0.4], [0, 0, 1, 1, 1]), 0.75);
  close(auroc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5);
  close(auroc([3, 2, 1], [1, 0, 0]), 1);
  close(auroc([3, 2, 1], [0, 0, 1]), 0);
  close(auroc(Float32Array.from([Infinity, Infinity, 0]), [1, 0, 0]), 0.75);
});

test('average precision on hand examples', () => {
  // Recall steps of 1/3 at precisions 1, 2/3, 3/5.
  close(auprc([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 1]), 1 / 3 + 2 / 9 + 1 / 5);
  // Tied 0.8s enter together: (1/3)*1 + (1/3)*(2/3) + (1/3)*(3/4).
  close(auprc([0.9, 0.8, 0.8, 0.5], [1, 1, 0, 1]), 29 / 36);
  close(auprc([1, 2, 3], [0, 0, 1]), 1);
});

test('NaN scores, length mismatch, non-binary and one-class labels are rejected', () => {
  assert.throws(() => auroc([0.1, NaN], [0, 1]), /index 1 is NaN/);
  assert.throws(() => bestF1([0.1, NaN], [0, 1]), /NaN/);
  assert.throws(() => auprc([0.1], [0, 1]), /differ in length/);
  assert.throws(() => auroc([1, 2], [0, 2]), /labels\[1\] = 2/);
  assert.throws(() => auroc([1, 2], [0, 0]), /no positives/);
  assert.throws(() => auroc([1, 2], [1, 1]), /no negatives/);
});

function bruteBestF1(scores: number[], labels: number[]): number {
  let best = 0;
  for (const thr of new Set(scores)) {
    const m = pointMetrics(labels, scores.map((s) => (s >= thr ? 1 : 0)));
    best = Math.max(best, m.f1);
  }
  return best;
}

function bruteAdjustedF1(scores: number[], labels: number[]): number {
  let best = 0;
  for (const thr of new Set(scores)) {
    const adjusted = pointAdjustAlerts(labels, scores.map((s) => (s >= thr ? 1 : 0)));
    best = Math.max(best, pointMetrics(labels, adjusted).f1);
  }
  return best;
}

test('bestF1 and pointAdjustedF1 match brute force over all thresholds', () => {
  const r = rng(7);
  for (let trial = 0; trial < 30; trial++) {
    const n = 20 + Math.floor(r() * 80);
    const labels: number[] = [];
    let state = 0;
    for (let i = 0; i < n; i++) {
      if (r() < 0.15) state = 1 - state;
      labels.push(state);
    }
    if (!labels.includes(1)) labels[3] = 1;
    // Rounded scores so ties occur.
    const scores = labels.map((l) => Math.round((r() + 0.4 * l) * 10) / 10);
    const f = bestF1(scores, labels);
    close(f.f1, bruteBestF1(scores, labels));
    const atThr = pointMetrics(labels, scores.map((s) => (s >= f.threshold ? 1 : 0)));
    close(atThr.f1, f.f1);
    close(atThr.precision, f.precision);
    close(atThr.recall, f.recall);
    const pa = pointAdjustedF1(scores, labels);
    close(pa.f1, bruteAdjustedF1(scores, labels));
    assert.ok(pa.f1 >= f.f1 - 1e-12, 'point adjustment can only inflate F1');
  }
});

test('events and event metrics on a hand example', () => {
  //             0  1  2  3  4  5  6  7  8  9 10 11 12
  const labels = [0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0];
  const alerts = [1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1];
  assert.deepEqual(events(labels), [
    { start: 1, end: 4 },
    { start: 6, end: 8 },
    { start: 11, end: 12 },
  ]);
  const m = eventMetrics(labels, Uint8Array.from(alerts));
  assert.equal(m.totalEvents, 3);
  assert.equal(m.detectedEvents, 2);
  close(m.eventRecall!, 2 / 3);
  // Alert runs [0,1) hits nothing; [3,5) and [9,13) overlap events.
  assert.equal(m.falseAlarmEvents, 1);
  assert.deepEqual(m.delays, [2, 0]);
  assert.equal(m.meanDelaySteps, 1);
  assert.equal(m.medianDelaySteps, 1);

  const p = pointMetrics(labels, alerts);
  assert.deepEqual([p.tp, p.fp, p.fn, p.tn], [2, 5, 4, 2]);
  close(p.precision, 2 / 7);
  close(p.recall, 1 / 3);
  close(p.f1, 4 / 13);

  const none = eventMetrics([0, 0, 0], [0, 1, 0]);
  assert.equal(none.eventRecall, null);
  assert.equal(none.meanDelaySteps, null);
  assert.equal(none.falseAlarmEvents, 1);
  assert.deepEqual(pointMetrics([0, 0], [0, 0]), { precision: 0, recall: 0, f1: 0, tp: 0, fp: 0, fn: 0, tn: 2 });
});

test('pointAdjustAlerts fills a whole event after one hit', () => {
  assert.deepEqual([...pointAdjustAlerts([0, 1, 1, 1, 0, 1, 1], [0, 0, 1, 0, 1, 0, 0])], [0, 1, 1, 1, 1, 0, 0]);
});

test('edgeAuroc: undirected pairs use max(w_ij, w_ji); directed uses ordered pairs', () => {
  const w = [
    [0, 0.9, 0.1],
    [0.2, 0, 0.5],
    [0.3, 0.05, 0],
  ];
  // Pair scores: {0,1} 0.9, {0,2} 0.3, {1,2} 0.5.
  close(edgeAuroc(w, [[0, 1]], false), 1);
  close(edgeAuroc(w, [[1, 0]], false), 1);
  close(edgeAuroc(w, [[2, 1]], false), 0.5);
  // Ordered: 1->0 scores 0.2, above 0.1 and 0.05, below 0.9, 0.5, 0.3.
  close(edgeAuroc(w, [[1, 0]], true), 0.4);
  assert.throws(() => edgeAuroc(w, [[1, 1]], true), /distinct indices/);
  assert.throws(() => edgeAuroc([[0, 1]], [[0, 1]], true), /K×K/);
});

test('z-score baseline: max |z| over sensors, per-sensor contributions, constant sensors left out', () => {
  // a: mean 2, population std sqrt(1/2); b: mean 0, std 1; c constant.
  const mk = (rows: number[][]): SeriesTable => ({
    timestamps: Float64Array.from(rows, (_, i) => i),
    sensors: ['a', 'b', 'c'],
    features: ['value'],
    values: Float32Array.from(rows.flat()),
  });
  const base = fitZScoreBaseline(mk([
    [1, -1, 5],
    [2, 1, 5],
    [3, -1, 5],
    [2, 1, 5],
  ]));
  assert.deepEqual(base.sensors, ['a', 'b']);
  assert.deepEqual(base.dropped, [{ sensor: 'c', reason: 'constant in training' }]);
  const s = scoreZScore(mk([
    [2, 3, 100],
    [4, 0, 5],
  ]), base);
  const sa = Math.sqrt(0.5);
  close(s.perSensor![0], 0, 1e-6);
  close(s.perSensor![1], 3, 1e-6);
  close(s.perSensor![2], 2 / sa, 1e-6);
  close(s.perSensor![3], 0, 1e-6);
  close(s.scores[0], 3, 1e-6);
  close(s.scores[1], 2 / sa, 1e-6);
  assert.deepEqual(JSON.parse(JSON.stringify(base)), base);
  assert.throws(() => scoreZScore({ ...mk([[1, 1, 1]]), sensors: ['a', 'x', 'c'] }, base), /missing sensor\(s\).*: b/);
});

test('cellAuroc: per-sensor scores against per-sensor labels; unscored sensors rank lowest', () => {
  // 2 steps x sensors [a, b]; scorer orders them [b, a]. Positive cell: (t=1, a).
  const labels = Uint8Array.from([0, 0, 1, 0]);
  // Scores in [b, a] order: (t0: b=1, a=2), (t1: b=0, a=5) -> a at t1 is the top cell.
  assert.equal(cellAuroc([1, 2, 0, 5], ['b', 'a'], labels, ['a', 'b']), 1);
  // Scoring only b cannot point at a: its positive cell gets the lowest score.
  // Positive (t1, a) = -Inf ties the negative (t0, a) = -Inf and is below b's 1 and 0: AUROC 0.5 / 3.
  close(cellAuroc([1, 0], ['b'], labels, ['a', 'b'])!, 1 / 6);
  assert.equal(cellAuroc([1, 2, 0, 5], ['b', 'a'], new Uint8Array(4), ['a', 'b']), null);
  assert.throws(() => cellAuroc([1, 2, 3], ['b', 'a'], labels, ['a', 'b']), /disagree on T/);
});

test('detectionMetrics: false-alarm events per day of data from the timestamps', () => {
  const hour = 3_600_000;
  // 48 hourly steps = 2 days; one labelled event, alerts: a hit and two false-alarm runs.
  const T = 48;
  const labels = new Uint8Array(T);
  labels.fill(1, 10, 14);
  const alerts = new Uint8Array(T);
  alerts[11] = 1;
  alerts[20] = 1; alerts[21] = 1;
  alerts[40] = 1;
  const scores = Float32Array.from(alerts, (a, t) => a + labels[t]);
  const ts = Float64Array.from({ length: T }, (_, t) => t * hour);
  close(spanDays(ts)!, 2, 1e-12);
  const threshold = quantileThreshold(Float32Array.from({ length: 100 }, (_, i) => i / 200), 0.01);
  const m = detectionMetrics(scores, labels, alerts, threshold.value, ts, alertEpisodes(scores, alerts, ts, threshold));
  assert.equal(m.atModelThreshold!.falseAlarmEvents, 2);
  close(m.atModelThreshold!.falseAlarmEventsPerDay!, 1, 1e-12);
  assert.equal(m.atModelThreshold!.medianDelaySteps, 1);
  // As alerts (3 exceeding steps of 5 fire one): none of these runs is long enough to be sent.
  assert.deepEqual([m.asAlerts!.alerts, m.asAlerts!.detectedEvents, m.asAlerts!.falseAlarmEvents, m.asAlerts!.falseAlarmsPerDay], [0, 0, 0, 0]);
  const untimed = detectionMetrics(scores, labels, alerts, threshold.value);
  assert.equal(untimed.atModelThreshold!.falseAlarmEventsPerDay, null);
  assert.equal(untimed.asAlerts, null);
});
