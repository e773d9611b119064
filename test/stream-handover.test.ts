// StreamProcessor.handOver (no services): a new model version takes over a site between two
// batches, warmed up on the site's recent steps, so its scores equal batch scoring started that
// many steps before the boundary; the old version's open alerts are resolved with the reason; a
// checkpoint taken right after the hand-over restores to the same outputs; a version with other
// sensors is refused and the old processor keeps working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { scoreTable, type Detector } from '../src/detector.ts';
import { selectSensors, sliceRows, type SeriesTable } from '../src/data/table.ts';
import { StreamProcessor, ProcessorSettingsSchema, type ScoredStep } from '../src/stream/processor.ts';
import type { Alert } from '../src/scoring/alert.ts';
import { fitTiny, fixtureRows, tinyConfig } from './helpers/api.ts';
import { readingMessages, asIncoming } from './helpers/stream-fixture.ts';

let a: Detector;
let b: Detector;
let fewer: Detector;
let windowed: Detector;
let table: SeriesTable;
const SITE = 'h';
const B0 = 150; // the boundary
const END = 260;

before(async () => {
  const train = await fixtureRows('grid', 'train', 0, 1200);
  a = await fitTiny(sliceRows(train, 0, 600));
  b = await fitTiny(sliceRows(train, 600, 1200), tinyConfig('grid', { 'train.seed': 7 }));
  fewer = await fitTiny(selectSensors(sliceRows(train, 0, 600), train.sensors.slice(0, 5)));
  windowed = await fitTiny(sliceRows(train, 0, 600), tinyConfig('grid', { 'model.encoder': 'windowed' }));
  table = await fixtureRows('grid', 'test', 0, END);
});

after(() => {
  for (const d of [a, b, fewer, windowed]) d?.model.dispose();
});

function feed(p: StreamProcessor, det: Detector, from: number, to: number, offset: number): { steps: ScoredStep[]; alerts: Alert[] } {
  for (const m of asIncoming(readingMessages(sliceRows(table, from, to), det, SITE), 'in', 0)) {
    assert.deepEqual(p.ingest({ ...m, offset: String(offset + Number(m.offset)) }), []);
  }
  const out = p.scoreReady();
  return { steps: out.flatMap((o) => o.steps), alerts: out.flatMap((o) => o.alerts.map((x) => x.alert)) };
}

const close = (x: number, y: number) => Math.abs(x - y) <= 1e-3 * (1 + Math.abs(y));

test('hand-over: the new version warmed on the recent steps scores as batch scoring started before the boundary; a checkpoint after it restores exactly', () => {
  const settings = ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 0 } });
  const W = a.config.model.window;
  const pa = new StreamProcessor(a, settings);
  const first = feed(pa, a, 0, B0, 0); // a step closes as soon as all its readings are in (emitWhenComplete)
  assert.equal(first.steps.length, B0);
  const pb = pa.handOver(b, 'model changed: a -> b');
  pa.dispose();
  assert.equal(pb.modelVersion, b.modelVersion);
  assert.deepEqual(pb.takeDirty(), [SITE], 'the checkpoint must name the new version for every site');
  // The old version's open alerts come out with the next scoring call (resolved, with the reason).
  const closing = pb.scoreReady().flatMap((o) => o.alerts.map((x) => x.alert));
  assert.ok(closing.every((x) => x.status === 'resolved' && x.labels.model_version === a.modelVersion && x.annotations.resolved_reason === 'model changed: a -> b'));
  const snap = JSON.parse(JSON.stringify(pb.snapshotSite(SITE)));
  const second = feed(pb, b, B0, END, 100_000);
  const batch = scoreTable(b, sliceRows(table, B0 - W, END));
  assert.equal(second.steps.length, END - B0);
  second.steps.forEach((s, i) => {
    assert.equal(s.model.version, b.modelVersion);
    assert.equal(s.tsMs, batch.timestamps[W + i]);
    assert.ok(close(s.total, batch.total[W + i]), `step ${B0 + i}: ${s.total} vs batch ${batch.total[W + i]}`);
    assert.equal(s.usable, true, 'warmed on a full window: usable at once');
  });
  // Restored from the checkpoint written at the hand-over: the same outputs.
  const pr = new StreamProcessor(b, settings);
  pr.restoreSite(snap);
  const again = feed(pr, b, B0, END, 100_000);
  assert.deepEqual(again.steps.map((s) => s.total), second.steps.map((s) => s.total));
  assert.deepEqual(again.alerts, second.alerts);
  pb.dispose();
  pr.dispose();
});

test('hand-over: alerts open under the old version are resolved with the reason; the new version starts with none', () => {
  const settings = ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 0 } });
  // Every step exceeds a threshold below any score: an anomaly alert is firing at the boundary.
  const hot: Detector = { ...a, threshold: { ...a.threshold, value: -1e9 } };
  const pa = new StreamProcessor(hot, settings);
  const first = feed(pa, hot, 0, 20, 0);
  const fired = first.alerts.filter((x) => x.labels.alertname === 'GanfAnomaly');
  assert.deepEqual(fired.map((x) => x.status), ['firing']);
  const pb = pa.handOver(b, 'model changed: hot -> b');
  pa.dispose();
  const second = feed(pb, b, 20, 40, 100_000);
  const closed = second.alerts.filter((x) => x.fingerprint === fired[0].fingerprint);
  assert.equal(closed.length, 1);
  assert.equal(closed[0].status, 'resolved');
  assert.equal(closed[0].annotations.resolved_reason, 'model changed: hot -> b');
  assert.equal(closed[0].labels.model_version, hot.modelVersion);
  assert.ok(second.alerts.every((x) => x.labels.model_version === b.modelVersion || x.annotations.resolved_reason), 'everything else comes from the new version');
  pb.dispose();
});

test('hand-over to a version with other sensors, or one that cannot stream, is refused with a clear error; the old processor keeps scoring', () => {
  const settings = ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 0 } });
  const pa = new StreamProcessor(a, settings);
  feed(pa, a, 0, 30, 0);
  assert.throws(() => pa.handOver(fewer, 'x'), new RegExp(`model ${fewer.modelVersion} scores other sensors or features than ${a.modelVersion}`));
  assert.throws(() => pa.handOver(windowed, 'x'), new RegExp(`model ${windowed.modelVersion} uses the windowed encoder`));
  const more = feed(pa, a, 30, 60, 100_000);
  assert.equal(more.steps.length, 30);
  assert.ok(more.steps.every((s) => s.model.version === a.modelVersion));
  pa.dispose();
});
