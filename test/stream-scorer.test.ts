// Streaming one reading row at a time reproduces batch scores of the same data: the property the
// Kafka pipeline relies on (constant cost per step, no window recompute).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/flow/tf.ts';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { sliceRows, selectSensors } from '../src/data/table.ts';
import { fillMissing } from '../src/data/missing.ts';
import { fitDetector, scoreTable } from '../src/detector.ts';
import { StreamScorer, stepReadings, type StepScore } from '../src/scoring/stream-scorer.ts';
import { expectedReadingsAt } from '../src/scoring/score-path.ts';
import { surprise } from '../src/scoring/calibration.ts';
import { applyOverrides, loadConfigFile, parseConfig } from '../src/config.ts';

before(async () => {
  await initBackend();
});

test('StreamScorer.scoreOne on raw rows equals batch scoreTable (cold and warm start)', async () => {
  const config = parseConfig(applyOverrides(loadConfigFile('config/traffic.json'), {
    'train.maxSteps': 20, 'train.evalEvery': 10, 'model.hidden': 8, 'model.condition': 8, 'model.flowHidden': 8,
    // Buckets of 2 steps: the drift baseline completes 40 of them in 80 steps and shifts.
    'model.baselineBucketSteps': 2,
  }));
  const train = sliceRows(await readCsvFile('fixtures/traffic/train.csv', { intervalMs: 300000 }), 0, 500);
  const test_ = sliceRows(await readCsvFile('fixtures/traffic/test.csv', { intervalMs: 300000 }), 0, 80);
  const { detector } = await fitDetector(train, config);
  const K = detector.sensors.length;
  // Sensor 0 freezes for 20 steps (stuck); sensor 1 has a 2-step gap, filled with its last value:
  // a filled value is not a repeated reading, in batch (fillMissing's cells) as in the stream (unread).
  const col = (name: string) => test_.sensors.indexOf(name);
  const [frozen, gappy] = [col(detector.sensors[0]), col(detector.sensors[1])];
  const S = test_.sensors.length;
  for (let t = 20; t < 40; t++) test_.values[t * S + frozen] = test_.values[19 * S + frozen];
  for (const t of [50, 51]) test_.values[t * S + gappy] = Number.NaN;
  const filled = fillMissing(test_, detector.config.data.missing);
  const rows = selectSensors(filled.table, detector.sensors);
  const unread = new Uint8Array(rows.timestamps.length * K);
  for (const t of [50, 51]) unread[t * K + 1] = 1;
  for (const [warmStart, aggregate] of [[false, 'top-k'], [true, 'top-k'], [true, 'joint'], [true, 'max-sensor']] as const) {
    detector.config.model.scoreAggregate = aggregate;
    const batch = scoreTable(detector, test_, { warmStart, expected: true });
    const shifted = Array.from(batch.perSensor).filter((v, i) => batch.surprise[i] < surprise(detector.calibration, i % K, v) - 1e-3).length;
    assert.ok(shifted > 0, `warm=${warmStart} ${aggregate}: the drift baseline never shifted, so stream = batch says nothing about it`);
    const stuckCells = batch.stuck.filter((c) => c.sensor === detector.sensors[0]);
    // Its run at step t is t - 18 (the value of step 19, repeated): stuck once longer than twice its training longest.
    const from = 19 + 2 * detector.scaler.kept[0].longestRepeat!;
    assert.ok(from < 39, `the training longest ${detector.scaler.kept[0].longestRepeat} leaves room for a stuck stretch`);
    assert.deepEqual(stuckCells.map((c) => [c.t, c.steps]), Array.from({ length: 40 - from }, (_, i) => [from + i, from + i - 18]), 'the frozen sensor is stuck from past twice its training longest to the end of the freeze');
    assert.ok(batch.surprise[39 * K] > 20, `21 equal readings are as surprising as the calibration's tail: ${batch.surprise[39 * K]}`);
    assert.deepEqual(batch.stuck.filter((c) => c.sensor !== detector.sensors[0]), [], 'nothing else is stuck: the filled gap is not a repeat');
    const stream = new StreamScorer(detector, { warmStart });
    let last: StepScore | undefined;
    for (let t = 0; t < rows.timestamps.length; t++) {
      const s = stream.scoreOne(rows.values.subarray(t * K, (t + 1) * K), unread.subarray(t * K, (t + 1) * K));
      last = s;
      assert.deepEqual(s.stuck, stuckCells.filter((c) => c.t === t).map((c) => ({ k: 0, steps: c.steps })), `step ${t}: stuck sensors`);
      // Expected vs observed of every sensor: the stream's equal the batch's.
      const ks = detector.sensors.map((_, k) => k);
      const [sr, br] = [stepReadings(detector, s, ks), expectedReadingsAt(detector, batch, t, ks)];
      sr.forEach((r, k) => {
        assert.equal(r[0].observed, rows.values[t * K + k]);
        assert.equal(br[k][0].observed, r[0].observed);
        assert.ok(Math.abs(r[0].expected - br[k][0].expected) < 1e-3 * (1 + Math.abs(br[k][0].expected)), `step ${t} ${detector.sensors[k]}: expected ${r[0].expected} vs batch ${br[k][0].expected}`);
      });
      assert.ok(Math.abs(s.total - batch.total[t]) < 1e-3 * (1 + Math.abs(batch.total[t])), `warm=${warmStart} ${aggregate} step ${t}: ${s.total} vs ${batch.total[t]}`);
      // The flags agree except where the two scores straddle the threshold within float rounding.
      assert.ok(s.alert === (batch.alerts[t] === 1) || Math.abs(batch.total[t] - detector.threshold.value) <= 1e-2, `warm=${warmStart} ${aggregate} step ${t}: alert flag`);
    }
    // The sensors whose level the baseline takes off at the end: the stream's last step names the batch's.
    assert.ok(batch.drifted.length > 0, 'the tiny model drifts on its test rows: some sensor must be reported');
    assert.deepEqual(last!.drifted.map((k) => detector.sensors[k]).sort(), batch.drifted.map((d) => d.sensor).sort());
    stream.dispose();
    // Catching up on a backlog in one call gives the same numbers.
    const many = new StreamScorer(detector, { warmStart });
    const scores = [...many.scoreMany(rows.values.subarray(0, 30 * K), unread.subarray(0, 30 * K)), ...many.scoreMany(rows.values.subarray(30 * K), unread.subarray(30 * K))];
    scores.forEach((s, t) => assert.ok(Math.abs(s.total - batch.total[t]) < 1e-3 * (1 + Math.abs(batch.total[t])), `scoreMany step ${t}`));
    many.dispose();
  }
  detector.model.dispose();
});
