// Silent sites, at the processor (no broker): a site that stops sending while others on its
// partition go on gets its open step closed (degraded, not used for alerting) once the partition's
// record time has moved closeAfterMs past its last record, and one GanfNoData alert after
// noDataAfterMs, resolved by its next reading. Decided from the message sequence alone: the same
// sequence gives the same outputs, whatever the batching and with a checkpoint/restore anywhere.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/flow/tf.ts';
import { StreamProcessor, ProcessorSettingsSchema, type ScoredStep } from '../src/stream/processor.ts';
import { encodeSnapshot } from '../src/stream/messages.ts';
import { fingerprintOf, parseAlert, type Alert } from '../src/scoring/alert.ts';
import type { IncomingMessage } from '../src/adapters/kafka-client.ts';
import type { Detector } from '../src/detector.ts';
import { selectSensors, type SeriesTable } from '../src/data/table.ts';
import { tinyDetector } from './helpers/stream-fixture.ts';

let det: Detector;
let table: SeriesTable;

before(async () => {
  await initBackend();
  ({ detector: det, test: table } = await tinyDetector('grid'));
});

const I = 300_000;
const settings = () => ProcessorSettingsSchema.parse({
  warmStart: true, align: { allowedLatenessMs: 0, carryForwardSteps: 0 }, silence: { closeAfterMs: 3 * I, noDataAfterMs: 6 * I },
});

/**
 * Site "live" sends every step 0..139; site "quiet" sends 0..58, half of its sensors at step 59,
 * nothing for steps 60..99, then 100..139 again. One snapshot message per site and step, record
 * timestamp = event time + 1 s (a producer sending in real time); "live" before "quiet" in a step.
 */
function sequence(): IncomingMessage[] {
  const rows = selectSensors(table, det.sensors);
  const K = det.sensors.length;
  const out: IncomingMessage[] = [];
  const add = (site: string, t: number, sensors: number) => {
    const value: string = encodeSnapshot(site, rows.timestamps[t], Object.fromEntries(det.sensors.slice(0, sensors).map((s, k) => [s, rows.values[t * K + k]])));
    out.push({ topic: 'in', partition: 0, offset: String(out.length), key: site, value, timestampMs: rows.timestamps[t] + 1000, headers: {} });
  };
  for (let t = 0; t < 140; t++) {
    add('live', t, K);
    if (t < 59 || t >= 100) add('quiet', t, K);
    else if (t === 59) add('quiet', t, Math.floor(K / 2));
  }
  return out;
}

/** Index of site's message for step t. */
function indexOf(msgs: IncomingMessage[], site: string, t: number): number {
  const ts = selectSensors(table, det.sensors).timestamps[t];
  const i = msgs.findIndex((m) => m.key === site && (JSON.parse(m.value ?? '{}') as { ts: number }).ts === ts);
  assert.ok(i >= 0);
  return i;
}

interface Run {
  /** Per message index, the steps and alerts its scoring call produced. */
  steps: Array<ScoredStep & { at: number }>;
  alerts: Array<Alert & { at: number }>;
}

/** Ingests msgs[from..], scoring after every `every` messages (and at the end). */
function run(p: StreamProcessor, msgs: IncomingMessage[], from: number, to: number, every: number, into: Run): Run {
  for (let i = from; i < to; i++) {
    assert.deepEqual(p.ingest(msgs[i]), []);
    if ((i - from + 1) % every !== 0 && i !== to - 1) continue;
    for (const o of p.scoreReady()) {
      into.steps.push(...o.steps.map((s) => ({ ...s, at: i })));
      into.alerts.push(...o.alerts.map((a) => ({ ...a.alert, at: i })));
    }
  }
  return into;
}

const stepView = (s: ScoredStep) => ({ site: s.site, tsMs: s.tsMs, degraded: s.degraded, usable: s.usable, missing: s.missing, total: Math.round(s.total * 1e3) / 1e3 });
const noData = (r: Run, site: string) => r.alerts.filter((a) => a.labels.alertname === 'GanfNoData' && a.labels.site === site);
const strip = <T extends { at: number }>(xs: T[]) => xs.map(({ at: _a, ...x }) => x);

test('a silent site gets its open step closed (degraded, not alerting) and one GanfNoData, resolved when data returns', () => {
  const msgs = sequence();
  const rows = selectSensors(table, det.sensors);
  const ts = (t: number) => rows.timestamps[t];
  const K = det.sensors.length;
  const index = (site: string, t: number) => indexOf(msgs, site, t);
  const p = new StreamProcessor(det, settings());
  const r = run(p, msgs, 0, msgs.length, 1, { steps: [], alerts: [] });

  const quiet = r.steps.filter((s) => s.site === 'quiet');
  assert.equal(quiet.length, 140, 'steps 0..139, the silent stretch 60..99 filled (degraded) when data returns');
  // Step 59 closes at the message whose record time is 3 intervals past quiet's last record: live's step 62.
  const s59 = quiet.find((s) => s.tsMs === ts(59))!;
  assert.equal(s59.at, index('live', 62));
  assert.ok(s59.degraded && !s59.usable);
  assert.deepEqual(s59.missing, det.sensors.slice(Math.floor(K / 2)));
  // Data 41 steps ahead of the site's newest is held by the event-time guard until 3 messages in a
  // row confirm the jump (quiet's step 102); then the silent stretch closes, every step degraded.
  assert.deepEqual(quiet.filter((s) => s.tsMs >= ts(60) && s.tsMs < ts(100)).map((s) => [s.tsMs, s.degraded, s.usable, s.at]), Array.from({ length: 40 }, (_, i) => [ts(60 + i), true, false, index('quiet', 102)]));
  assert.ok(quiet.filter((s) => s.tsMs < ts(59)).every((s) => !s.degraded));

  const nd = noData(r, 'quiet');
  assert.deepEqual(nd.map((a) => `${a.status}@${a.at}`), [`firing@${index('live', 65)}`, `resolved@${index('quiet', 100)}`]);
  const fp = fingerprintOf({ alertname: 'GanfNoData', site: 'quiet', severity: 'warning', model_version: det.modelVersion });
  for (const a of nd) {
    assert.equal(a.fingerprint, fp);
    assert.deepEqual(a.labels, { alertname: 'GanfNoData', site: 'quiet', severity: 'warning', model_version: det.modelVersion });
    assert.equal(a.startsAt, new Date(ts(59)).toISOString());
  }
  assert.equal(nd[0].endsAt, null);
  assert.equal(nd[1].endsAt, new Date(ts(100)).toISOString());
  // The API's ingest accepts it as produced: same identity, no score evidence, no top sensors.
  const api = parseAlert(JSON.parse(JSON.stringify(strip([nd[1]])[0])));
  assert.deepEqual([api.fingerprint, api.status, api.labels.alertname, api.labels.site, api.evidence, api.topSensors], [fp, 'resolved', 'GanfNoData', 'quiet', null, []]);
  assert.deepEqual(noData(r, 'live'), [], 'a site that keeps sending never raises it');
  assert.equal(r.steps.filter((s) => s.site === 'live').length, 140);
  // No anomaly alert of the quiet site starts inside the silence (its steps there are unusable).
  const anomalies = r.alerts.filter((a) => a.labels.site === 'quiet' && a.labels.alertname === 'GanfAnomaly');
  assert.ok(anomalies.every((a) => !(Date.parse(a.startsAt) >= ts(59) && Date.parse(a.startsAt) < ts(100))));
  p.dispose();
});

test('silence decisions are a function of the message sequence: same outputs on a rerun, another batching, and a checkpoint/restore anywhere', () => {
  const msgs = sequence();
  const ref = run(new StreamProcessor(det, settings()), msgs, 0, msgs.length, 1, { steps: [], alerts: [] });
  assert.equal(noData(ref, 'quiet').length, 2);

  const again = run(new StreamProcessor(det, settings()), msgs, 0, msgs.length, 1, { steps: [], alerts: [] });
  assert.deepEqual(again, ref);

  const batched = run(new StreamProcessor(det, settings()), msgs, 0, msgs.length, 37, { steps: [], alerts: [] });
  for (const site of ['live', 'quiet']) {
    assert.deepEqual(strip(batched.alerts.filter((a) => a.labels.site === site)), strip(ref.alerts.filter((a) => a.labels.site === site)), `alerts of ${site}`);
    assert.deepEqual(batched.steps.filter((s) => s.site === site).map(stepView), ref.steps.filter((s) => s.site === site).map(stepView), `steps of ${site}`);
  }

  // Cuts: before quiet's step 59 is closed, closed but no alert yet, alert firing, just after the return.
  const at = (site: string, t: number) => indexOf(msgs, site, t);
  for (const cut of [at('live', 61), at('live', 63), at('live', 80), at('quiet', 100) + 1]) {
    const a = new StreamProcessor(det, settings());
    const out = run(a, msgs, 0, cut, 1, { steps: [], alerts: [] });
    const snaps = a.siteNames.map((s) => JSON.parse(JSON.stringify(a.snapshotSite(s))));
    a.dispose();
    const b = new StreamProcessor(det, settings());
    for (const s of snaps) b.restoreSite(s);
    run(b, msgs, cut, msgs.length, 1, out);
    b.dispose();
    assert.deepEqual(out.alerts, ref.alerts, `alerts with a restore at message ${cut}`);
    assert.deepEqual(out.steps.map((s) => ({ ...stepView(s), at: s.at })), ref.steps.map((s) => ({ ...stepView(s), at: s.at })), `steps with a restore at message ${cut}`);
  }
});

test('a checkpoint from before silence detection restores; an explicit clock tick (pipeline edge) detects a partition that receives nothing', () => {
  const msgs = sequence().filter((m) => m.key === 'quiet').slice(0, 60);
  const p = new StreamProcessor(det, settings());
  const r = run(p, msgs, 0, msgs.length, 1, { steps: [], alerts: [] });
  assert.equal(r.steps.length, 59, 'step 59 (half its sensors) stays open: nothing else moves the clock');
  const old = JSON.parse(JSON.stringify(p.snapshotSite('quiet')));
  delete old.lastRecordMs;
  delete old.silenceClosed;
  delete old.alerts.noData;
  const q = new StreamProcessor(det, settings());
  q.restoreSite(old);
  assert.equal(q.snapshotSite('quiet').lastRecordMs, null);
  assert.equal(q.snapshotSite('quiet').alerts.noData, null);
  q.dispose();

  const last = msgs[msgs.length - 1].timestampMs;
  p.advanceClock(last + 3 * I - 1);
  assert.deepEqual(p.scoreReady(), []);
  p.advanceClock(last + 6 * I);
  const [out] = p.scoreReady();
  assert.deepEqual(out.steps.map((s) => [s.tsMs, s.degraded, s.usable]), [[msgs[msgs.length - 1].timestampMs - 1000, true, false]]);
  assert.deepEqual(out.alerts.map((a) => [a.alert.labels.alertname, a.alert.status, a.step]), [['GanfNoData', 'firing', null]]);
  p.advanceClock(last + 60 * I);
  assert.deepEqual(p.scoreReady(), [], 'fires once');
  p.dispose();
});
