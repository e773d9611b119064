// Streamed scores equal the core detector's batch scores, whatever the message order (within the
// allowed lateness), the batching, or a checkpoint/restore in the middle; and so do the alerts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/flow/tf.ts';
import { selectSensors } from '../src/data/table.ts';
import { StreamScorer } from '../src/scoring/stream-scorer.ts';
import { StreamProcessor, ProcessorSettingsSchema, type ScoredStep } from '../src/stream/processor.ts';
import type { Alert } from '../src/scoring/alert.ts';
import type { Detector } from '../src/detector.ts';
import type { SeriesTable } from '../src/data/table.ts';
import { tinyDetector, readingMessages, asIncoming, expectedAlerts, batchScores, alertKey, assertSameReadings } from './helpers/stream-fixture.ts';

let det: Detector;
let table: SeriesTable;

before(async () => {
  await initBackend();
  ({ detector: det, test: table } = await tinyDetector('grid'));
});

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * (1 + Math.abs(b));

test('StreamScorer in one call, in two calls with a snapshot in between, and batch scoring agree; a snapshot restores bit for bit', () => {
  const rows = selectSensors(table, det.sensors);
  const K = det.sensors.length;
  const T = 200;
  const raw = Float64Array.from(rows.values.subarray(0, T * K));
  for (const warmStart of [false, true]) {
    const batch = batchScores(det, { ...table, timestamps: table.timestamps.subarray(0, T), values: table.values.subarray(0, T * table.sensors.length), labels: undefined }, warmStart);
    const reference = new StreamScorer(det, { warmStart });
    const ref = reference.scoreMany(raw);
    reference.dispose();
    const a = new StreamScorer(det, { warmStart });
    const first = a.scoreMany(raw.subarray(0, 70 * K));
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const rest = a.scoreMany(raw.subarray(70 * K));
    const b = new StreamScorer(det, { snapshot: snap });
    const restored = b.scoreMany(raw.subarray(70 * K));
    // Same computation from the restored state: identical numbers, not just close ones.
    assert.deepEqual(restored.map((s) => s.total), rest.map((s) => s.total));
    assert.deepEqual(restored.map((s) => Array.from(s.perSensor)), rest.map((s) => Array.from(s.perSensor)));
    [...first, ...rest].forEach((s, t) => {
      assert.ok(close(s.total, ref[t].total), `warm=${warmStart} step ${t}: ${s.total} vs one-call ${ref[t].total}`);
      assert.ok(close(s.total, batch.total[t]), `warm=${warmStart} step ${t}: ${s.total} vs batch ${batch.total[t]}`);
    });
    a.dispose();
    b.dispose();
  }
  assert.throws(() => new StreamScorer({ ...det, modelVersion: 'other' }, { snapshot: new StreamScorer(det).snapshot() }), /model/);
  // Three streams in one model call (stacked as the model's parallel streams) equal three separate calls.
  const offsets = [0, 40, 90];
  const solo = offsets.map((o) => {
    const sc = new StreamScorer(det);
    const r = sc.scoreMany(raw.subarray(o * K, (o + 60) * K)).map((x) => x.total);
    sc.dispose();
    return r;
  });
  const trio = offsets.map(() => new StreamScorer(det));
  const first20 = StreamScorer.scoreTogether(trio, offsets.map((o) => raw.subarray(o * K, (o + 20) * K)));
  const next40 = StreamScorer.scoreTogether(trio, offsets.map((o) => raw.subarray((o + 20) * K, (o + 60) * K)));
  offsets.forEach((_, b) => [...first20[b], ...next40[b]].forEach((x, t) => assert.ok(close(x.total, solo[b][t]), `stream ${b} step ${t}: together ${x.total} vs alone ${solo[b][t]}`)));
  trio.forEach((x) => x.dispose());
  // The other score aggregate (max per-sensor excess) follows the model config, as batch scoring does.
  const maxDet: Detector = { ...det, config: { ...det.config, model: { ...det.config.model, scoreAggregate: 'max-sensor' } } };
  const batchMax = batchScores(maxDet, { ...table, timestamps: table.timestamps.subarray(0, T), values: table.values.subarray(0, T * table.sensors.length), labels: undefined }, false);
  const m = new StreamScorer(maxDet);
  m.scoreMany(raw).forEach((s, t) => assert.ok(close(s.total, batchMax.total[t]), `max-sensor step ${t}: ${s.total} vs batch ${batchMax.total[t]}`));
  m.dispose();
});

const settings = ProcessorSettingsSchema.parse({
  warmStart: true, align: { allowedLatenessMs: 600_000 }, alerts: { fireAfter: 3, ofLast: 5, resolveHoldMs: 1_800_000 }, maxFutureMs: 300_000,
});

function run(p: StreamProcessor, msgs: ReturnType<typeof asIncoming>, batch: number, flush: boolean) {
  const steps: ScoredStep[] = [];
  const alerts: Alert[] = [];
  const rejected: string[] = [];
  for (let i = 0; i < msgs.length; i += batch) {
    for (const m of msgs.slice(i, i + batch)) {
      for (const r of p.ingest(m)) rejected.push(`${r.message.offset}:${r.kind}`);
    }
    for (const out of p.scoreReady()) {
      steps.push(...out.steps);
      alerts.push(...out.alerts.map((a) => a.alert));
    }
  }
  if (flush) for (const out of p.flush()) { steps.push(...out.steps); alerts.push(...out.alerts.map((a) => a.alert)); }
  return { steps, alerts, rejected };
}

test('StreamProcessor: shuffled readings score like batch, bad input is rejected, unknown sensors are counted; a restore mid-stream changes nothing', () => {
  const site = 'grid-1';
  const fixture = readingMessages(table, det, site, { shuffleSteps: 1.5, jitterMs: 20_000, extraSensors: ['B99'] });
  // A second site with the same data, interleaved: ready steps of both are scored in one model call.
  const other = readingMessages(table, det, 'grid-2', { shuffleSteps: 0.5 });
  const msgs: Array<{ key: string; value: string }> = [];
  fixture.forEach((m, i) => {
    msgs.push({ key: m.key, value: m.value });
    if (i < other.length) msgs.push({ key: other[i].key, value: other[i].value });
  });
  const bad = [
    { key: site, value: '{"site": "grid-1", "sensor": "B01", "ts": ' },
    { key: site, value: JSON.stringify({ site, sensor: 'B01', ts: Date.now() + 3_600_000, value: 1 }) },
    { key: site, value: '{"site":"grid-1","sensor":"B01","ts":1704067200000,"value":1e999}' },
  ];
  msgs.splice(1000, 0, bad[0]);
  msgs.splice(20000, 0, bad[1], bad[2]);
  const byStep = (steps: ScoredStep[], name: string) => steps.filter((x) => x.site === name);
  const incoming = asIncoming(msgs);
  const batch = batchScores(det, table, true);
  const T = batch.total.length;

  const p = new StreamProcessor(det, settings);
  const ref = run(p, incoming, 500, true);
  assert.deepEqual(ref.rejected, ['1000:malformed-json', '20000:future-timestamp', '20001:non-finite']);
  assert.equal(ref.steps.length, 2 * T);
  byStep(ref.steps, 'grid-2').forEach((s, t) => assert.ok(close(s.total, batch.total[t]), `grid-2 step ${t}`));
  ref.steps = byStep(ref.steps, site);
  ref.alerts = ref.alerts.filter((a) => a.labels.site === site);
  ref.steps.forEach((s, t) => {
    assert.equal(s.tsMs, batch.timestamps[t]);
    assert.ok(!s.degraded && s.usable && s.filled === 0);
    assert.ok(close(s.total, batch.total[t]), `step ${t}: streamed ${s.total} vs batch ${batch.total[t]}`);
  });
  const stats = p.stats(site);
  assert.equal(stats.unknown.B99, T);
  assert.equal(stats.late, 0);
  assert.equal(stats.accepted, T * det.sensors.length);
  const expected = expectedAlerts(det, site, batch, settings.alerts);
  assert.ok(expected.length >= 4, `the tiny model should raise a few alerts on the grid anomalies, got ${expected.length}`);
  assert.deepEqual(ref.alerts.map(alertKey), expected.map(alertKey));
  // The streamed alerts' expected vs observed readings are the batch ones.
  assertSameReadings(ref.alerts, expected, assert);
  p.dispose();

  // Different batching, and a checkpoint/restore (JSON round trip) at 40 %.
  const cut = Math.floor(incoming.length * 0.4);
  const a = new StreamProcessor(det, settings);
  const part1 = run(a, incoming.slice(0, cut), 777, false);
  const snaps = a.takeDirty().map((s) => JSON.parse(JSON.stringify(a.snapshotSite(s))));
  a.dispose();
  const b = new StreamProcessor(det, settings);
  for (const s of snaps) b.restoreSite(s);
  const part2 = run(b, incoming.slice(cut), 123, true);
  const steps = byStep([...part1.steps, ...part2.steps], site);
  assert.equal(steps.length, T);
  steps.forEach((s, t) => assert.ok(close(s.total, ref.steps[t].total), `step ${t} after restore`));
  assert.deepEqual([...part1.alerts, ...part2.alerts].filter((a) => a.labels.site === site).map(alertKey), ref.alerts.map(alertKey));
  assert.deepEqual(b.stats(site), stats);
  b.dispose();
});

test('StreamProcessor: warm-up steps after a cold start and a sensor silent beyond the carry-forward limit are not used for alerting; a frozen sensor is stuck, a silent one is not', () => {
  const site = 'gappy';
  // B07 sends its step-69 reading again for steps 70..89.
  const S = table.sensors.length;
  const b07 = table.sensors.indexOf('B07');
  const frozen = { ...table, values: table.values.slice() };
  for (let t = 70; t < 90; t++) frozen.values[t * S + b07] = table.values[69 * S + b07];
  const fixture = readingMessages(frozen, det, site, { steps: 120 });
  // B05 is silent for steps 40..59 (20 steps; the limit is 3).
  const msgs = fixture.filter((m) => !(m.step >= 40 && m.step < 60 && m.value.includes('"B05"')));
  const p = new StreamProcessor(det, ProcessorSettingsSchema.parse({ align: { allowedLatenessMs: 0, carryForwardSteps: 3 }, warmupSteps: 5 }));
  const { steps, alerts } = run(p, asIncoming(msgs), 400, true);
  assert.equal(steps.length, 120);
  const w = det.config.model.scoreWindow;
  steps.forEach((s, t) => {
    const silent = t >= 40 && t < 60;
    assert.equal(s.filled, silent && t < 43 ? 1 : 0, `step ${t} filled`);
    assert.equal(s.degraded, silent && t >= 43, `step ${t} degraded`);
    assert.deepEqual(s.missing, s.degraded ? ['B05'] : []);
    assert.equal(s.usable, t >= 5 && !(t >= 43 && t < 60 + w - 1), `step ${t} usable`);
  });
  // The run at step t is t - 68; stuck past twice B07's longest training run. B05's carried and
  // missing steps repeat its last value but are not readings: never stuck.
  const longest = det.scaler.kept[det.sensors.indexOf('B07')].longestRepeat!;
  assert.ok(68 + 2 * longest < 89, `B07's training longest ${longest} leaves room for a stuck stretch`);
  steps.forEach((s, t) => assert.deepEqual(s.stuck, t - 68 > 2 * longest && t < 90 ? ['B07'] : [], `step ${t} stuck`));
  // One per-sensor alert for it: firing at its first stuck step, resolved at its next new reading.
  const stuck = alerts.filter((a) => a.labels.alertname === 'GanfStuckSensor');
  assert.deepEqual(stuck.map((a) => [a.labels.sensor, a.status, a.startsAt, a.endsAt]), [
    ['B07', 'firing', new Date(steps[69 + 2 * longest].tsMs).toISOString(), null],
    ['B07', 'resolved', new Date(steps[69 + 2 * longest].tsMs).toISOString(), new Date(steps[90].tsMs).toISOString()],
  ]);
  p.dispose();
});
