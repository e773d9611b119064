// Hostile input at the processor (no broker): every bad message becomes a dead letter with its
// kind and the partition keeps going; an event-time jump is held until confirmed, decided from the
// message sequence alone; key/site mismatches and floods of names are bounded; a step whose score
// is not finite is dead-lettered and never leaves the processor as a number.
import type { Alert } from '../src/scoring/alert.ts';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/flow/tf.ts';
import { StreamProcessor, ProcessorSettingsSchema, type Rejection, type ScoredStep } from '../src/stream/processor.ts';
import { encodeReading, encodeSnapshot } from '../src/stream/messages.ts';
import type { IncomingMessage } from '../src/adapters/kafka-client.ts';
import type { Detector } from '../src/detector.ts';
import type { SeriesTable } from '../src/data/table.ts';
import { selectSensors } from '../src/data/table.ts';
import { tinyDetector, readingMessages, asIncoming, batchScores } from './helpers/stream-fixture.ts';

let det: Detector;
let table: SeriesTable;

before(async () => {
  await initBackend();
  ({ detector: det, test: table } = await tinyDetector('grid'));
});

const settings = (o: Record<string, unknown> = {}) => ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 600_000 }, ...o });
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * (1 + Math.abs(b));

function run(p: StreamProcessor, msgs: IncomingMessage[]) {
  const steps: ScoredStep[] = [];
  const rejected: Rejection[] = [];
  const alerts: Alert[] = [];
  for (const m of msgs) {
    rejected.push(...p.ingest(m));
    for (const out of p.scoreReady()) {
      steps.push(...out.steps);
      rejected.push(...out.rejected);
      alerts.push(...out.alerts.map((a) => a.alert));
    }
  }
  return { steps, rejected, alerts };
}

const msg = (offset: number, key: string | null, value: string, timestampMs = Date.now()): IncomingMessage =>
  ({ topic: 'in', partition: 0, offset: String(offset), key, value, timestampMs, headers: {} });

/** One snapshot message per step of the fixture (the model's sensors). */
function snapshots(site: string, steps: number): Array<{ key: string; value: string }> {
  const rows = selectSensors(table, det.sensors);
  const K = det.sensors.length;
  return Array.from({ length: steps }, (_, t) => ({
    key: site, value: encodeSnapshot(site, rows.timestamps[t], Object.fromEntries(det.sensors.map((s, k) => [s, rows.values[t * K + k]]))),
  }));
}

test('a single reading far ahead of the site is held and dead-lettered, not moving the watermark; valid steps score as batch', () => {
  const site = 'g1';
  const good = asIncoming(readingMessages(table, det, site, { steps: 300 }));
  const T = 300;
  const I = det.config.data.intervalMs;
  // 301 s ahead of the wall clock would have passed a wall-clock check minutes later; here it is
  // compared with the site's own data, which it is years ahead of.
  const rogue = msg(9001, site, encodeReading({ site, sensor: det.sensors[0], tsMs: table.timestamps[150] + 30 * 24 * 3600e3, value: 0 }));
  const msgs = [...good.slice(0, 150 * det.sensors.length), rogue, ...good.slice(150 * det.sensors.length)];
  const p = new StreamProcessor(det, settings());
  const { steps, rejected } = run(p, msgs);
  assert.deepEqual(rejected.map((r) => `${r.message.offset}:${r.kind}`), ['9001:ahead-of-site']);
  assert.match(rejected[0].error, /ahead of site g1's data and the jump was not confirmed/);
  assert.equal(rejected[0].message.value, rogue.value, 'the held message is dead-lettered with its original bytes');
  const flushed = p.flush().flatMap((o) => o.steps);
  const all = [...steps, ...flushed];
  const batch = batchScores(det, { ...table, timestamps: table.timestamps.subarray(0, T), values: table.values.subarray(0, T * table.sensors.length), labels: undefined }, true);
  assert.equal(all.length, T);
  all.forEach((s, t) => {
    assert.equal(s.tsMs, table.timestamps[t]);
    assert.ok(close(s.total, batch.total[t]), `step ${t}`);
  });
  assert.equal(p.stats(site).late, 0, 'no valid reading was dropped as late');
  assert.ok(I > 0);
  p.dispose();
});

test('a real jump (a site back after an outage) is confirmed by consecutive messages and nothing of it is lost; the decision survives a checkpoint', () => {
  const site = 'g2';
  const snaps = snapshots(site, 200);
  // Steps 100..199 shifted by 2 days: the site was silent for 2 days, then resumes.
  const shift = 2 * 24 * 3600e3;
  const shifted = snaps.map((m, t) => {
    if (t < 100) return m;
    const o = JSON.parse(m.value) as { site: string; ts: number; values: Record<string, number> };
    return { key: site, value: encodeSnapshot(site, o.ts + shift, o.values) };
  });
  const incoming = asIncoming(shifted);
  const ref = new StreamProcessor(det, settings({ eventTime: { maxAheadMs: 600_000, jumpConfirmations: 3 } }));
  const a = run(ref, incoming);
  assert.deepEqual(a.rejected, []);
  const after = [...a.steps, ...ref.flush().flatMap((o) => o.steps)];
  assert.equal(after.filter((s) => s.tsMs >= table.timestamps[100] + shift).length, 100, 'every step after the jump is scored');
  assert.equal(ref.stats(site).late, 0);
  // Same messages, with a checkpoint taken while two of them are held: the same steps come out.
  const b1 = new StreamProcessor(det, settings({ eventTime: { maxAheadMs: 600_000, jumpConfirmations: 3 } }));
  const first = run(b1, incoming.slice(0, 102));
  assert.equal(b1.stats(site).held, 2);
  const snap = JSON.parse(JSON.stringify(b1.snapshotSite(site)));
  b1.dispose();
  const b2 = new StreamProcessor(det, settings({ eventTime: { maxAheadMs: 600_000, jumpConfirmations: 3 } }));
  b2.restoreSite(snap);
  const second = run(b2, incoming.slice(102));
  const restored = [...first.steps, ...second.steps, ...b2.flush().flatMap((o) => o.steps)];
  assert.deepEqual(restored.map((s) => s.tsMs), after.map((s) => s.tsMs));
  restored.forEach((s, t) => assert.ok(close(s.total, after[t].total), `step ${t} after restore`));
  ref.dispose();
  b2.dispose();
});

test('key/site mismatch, a flood of unknown sensors and a flood of sites are dead-lettered beyond documented bounds', () => {
  const p = new StreamProcessor(det, settings({ limits: { maxSitesPerPartition: 3, maxUnknownSensorsPerSite: 5 } }));
  const ts = table.timestamps[0];
  const rejected: string[] = [];
  const feed = (m: IncomingMessage) => rejected.push(...p.ingest(m).map((r) => `${r.message.offset}:${r.kind}`));
  feed(msg(1, 'other-site', encodeReading({ site: 's1', sensor: det.sensors[0], tsMs: ts, value: 0 })));
  feed(msg(2, null, encodeReading({ site: 's1', sensor: det.sensors[0], tsMs: ts, value: 0 })));
  for (let i = 0; i < 20; i++) feed(msg(10 + i, 's1', encodeReading({ site: 's1', sensor: `junk-${i}`, tsMs: ts, value: 0 })));
  // A name already counted is still counted, not rejected.
  feed(msg(40, 's1', encodeReading({ site: 's1', sensor: 'junk-0', tsMs: ts, value: 0 })));
  for (let i = 0; i < 6; i++) feed(msg(50 + i, `site-${i}`, encodeReading({ site: `site-${i}`, sensor: det.sensors[0], tsMs: ts, value: 0 })));
  assert.deepEqual(rejected, [
    '1:key-mismatch', '2:key-mismatch',
    ...Array.from({ length: 15 }, (_, i) => `${15 + i}:unknown-sensor-limit`),
    '52:site-limit', '53:site-limit', '54:site-limit', '55:site-limit',
  ]);
  assert.deepEqual(p.stats('s1').unknown, { 'junk-0': 2, 'junk-1': 1, 'junk-2': 1, 'junk-3': 1, 'junk-4': 1 });
  assert.deepEqual(p.siteNames.sort(), ['s1', 'site-0', 'site-1']);
  assert.ok(JSON.stringify(p.snapshotSite('s1')).length < 200_000);
  p.dispose();
});

test('a glitch value is clipped to its plausible range: every step scores finite, an implausible-value alert names the sensor, the site keeps scoring', () => {
  const site = 'g3';
  const snaps = snapshots(site, 200);
  const o = JSON.parse(snaps[80].value) as { ts: number; values: Record<string, number> };
  o.values[det.sensors[3]] = 1e300;
  snaps[80] = { key: site, value: encodeSnapshot(site, o.ts, o.values) };
  const p = new StreamProcessor(det, settings());
  const { steps, rejected, alerts } = run(p, asIncoming(snaps));
  const all = [...steps, ...p.flush().flatMap((x) => x.steps)];
  assert.ok(all.every((s) => Number.isFinite(s.total) && Array.from(s.perSensor).every(Number.isFinite)), 'only finite scores come out');
  assert.deepEqual(rejected, [], 'nothing to dead-letter: the reading is clipped, not scored as is');
  assert.equal(all.length, 200);
  const implausible = alerts.filter((a) => a.labels.alertname === 'GanfImplausibleValue');
  assert.deepEqual(implausible.map((a) => [a.labels.sensor, a.status, a.startsAt]), [
    [det.sensors[3], 'firing', new Date(o.ts).toISOString()], [det.sensors[3], 'resolved', new Date(o.ts).toISOString()],
  ]);
  assert.ok(all.filter((s) => s.tsMs > o.ts).length >= 119 - 6, 'the steps after the glitch are scored');
  assert.ok(all.slice(-50).every((s) => s.usable), 'the site is usable for alerting again after the warm-up');
  p.dispose();
});
