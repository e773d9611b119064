// A backtest counts the alerts the stream would have sent: exceedances replayed through the
// stream's AlertEngine and its rule, then scored as events.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replayAlerts, DEFAULT_ALERT_RULE } from '../src/scoring/alert-replay.ts';
import { AlertRuleSchema } from '../src/scoring/alert-engine.ts';
import { alertEpisodes, detectionMetrics } from '../src/scoring/backtest.ts';
import { episodeMetrics, eventMetrics } from '../src/scoring/metrics.ts';
import { quantileThreshold } from '../src/scoring/threshold.ts';

const MIN5 = 300_000;
const T = 60;
const ts = Float64Array.from({ length: T }, (_, t) => 1_700_000_000_000 + t * MIN5);
const threshold = quantileThreshold(Float32Array.from({ length: 100 }, (_, i) => i / 100), 0.01);
const exceedAt = (steps: number[]) => {
  const e = new Uint8Array(T);
  for (const t of steps) e[t] = 1;
  return e;
};
// An isolated step (3), an incident with a dip (10, 11, 13, then 16 inside the 30-minute hold),
// a short burst (40-42) and one still open when the data ends (57-59).
const exceed = exceedAt([3, 10, 11, 13, 16, 40, 41, 42, 57, 58, 59]);
const scores = Float32Array.from(exceed, (e) => (e ? 2 : 0));

test('replayAlerts: the default rule (3 of 5 to fire, 30 min below to resolve) on 5-minute steps', () => {
  assert.deepEqual([DEFAULT_ALERT_RULE.fireAfter, DEFAULT_ALERT_RULE.ofLast, DEFAULT_ALERT_RULE.resolveHoldMs], [3, 5, 1_800_000]);
  assert.deepEqual(replayAlerts(scores, exceed, ts, threshold, MIN5), [
    // startsAt at the window's first exceeding step, sent at the third, ended after the last exceeding step.
    { start: 10, fired: 13, end: 17 },
    { start: 40, fired: 42, end: 43 },
    { start: 57, fired: 59, end: 60 },
  ]);
});

test('replayAlerts: the rule decides; the hold is event time, so a coarser interval resolves sooner', () => {
  const every = AlertRuleSchema.parse({ fireAfter: 1, ofLast: 1, resolveHoldMs: 0 });
  assert.deepEqual(replayAlerts(scores, exceed, ts, threshold, MIN5, every).map((e) => [e.start, e.end]),
    [[3, 4], [10, 12], [13, 14], [16, 17], [40, 43], [57, 60]]);
  // Hourly steps: the 30-minute hold is one step, so the first alert ends at the first step below
  // (14), and 16 on its own fires nothing.
  const hourly = Float64Array.from({ length: T }, (_, t) => t * 3_600_000);
  assert.deepEqual(replayAlerts(scores, exceed, hourly, threshold, 3_600_000), [
    { start: 10, fired: 13, end: 14 },
    { start: 40, fired: 42, end: 43 },
    { start: 57, fired: 59, end: 60 },
  ]);
  assert.throws(() => replayAlerts(scores, exceed.subarray(1), ts, threshold, MIN5), /differ in length/);
});

test('alerts as events: sent-time delays, and false alerts against raw false-alarm runs', () => {
  const labels = new Uint8Array(T);
  labels.fill(1, 12, 15);
  labels.fill(1, 30, 33);
  labels.fill(1, 55, 60);
  const sent = episodeMetrics(labels, replayAlerts(scores, exceed, ts, threshold, MIN5));
  // [10, 17) overlaps [12, 15), sent at 13: 1 step late; [57, 60) sent at 59: 4 steps after 55; [40, 43) hits nothing.
  assert.deepEqual([sent.detectedEvents, sent.totalEvents, sent.falseAlarmEvents, sent.delays], [2, 3, 1, [1, 4]]);
  assert.equal(sent.medianDelaySteps, 2.5);
  // The raw exceedance runs: 3, 10-11, 16 and 40-42 overlap no event.
  const raw = eventMetrics(labels, exceed);
  assert.deepEqual([raw.detectedEvents, raw.falseAlarmEvents, raw.delays], [2, 4, [1, 2]]);
  const m = detectionMetrics(scores, labels, exceed, threshold.value, ts, alertEpisodes(scores, exceed, ts, threshold));
  assert.deepEqual([m.asAlerts!.alerts, m.asAlerts!.detectedEvents, m.asAlerts!.falseAlarmEvents], [3, 2, 1]);
  assert.equal(m.asAlerts!.falseAlarmsPerDay, 1 / (T * MIN5 / 86_400_000));
  assert.throws(() => episodeMetrics(labels, [{ start: 5, fired: 4, end: 8 }]), /not inside/);
});
