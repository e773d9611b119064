// The streaming pipeline's pure parts: message contract, event-time aligner, alert state machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSensorMessage, parseTimestamp, encodeReading, encodeSnapshot } from '../src/stream/messages.ts';
import { StepAligner, type AlignedStep } from '../src/stream/aligner.ts';
import { AlignConfigSchema } from '../src/stream/config.ts';
import { AlertEngine, AlertRuleSchema, type StepObservation } from '../src/scoring/alert-engine.ts';
import { fingerprintOf, parseAlert, type Alert } from '../src/scoring/alert.ts';
import { exceeds, quantileThreshold, spotThreshold, tailProbability, type ThresholdState } from '../src/scoring/threshold.ts';

const NOW = Date.parse('2024-06-01T00:00:00Z');
const opts = { nowMs: NOW, maxFutureMs: 60_000 };

test('messages: readings and snapshots in both timestamp forms are accepted', () => {
  const r = parseSensorMessage(encodeReading({ site: 's1', sensor: 'B05', tsMs: 1704067200000, value: 1.25 }), opts);
  assert.deepEqual(r, { ok: true, site: 's1', tsMs: 1704067200000, readings: [{ site: 's1', sensor: 'B05', feature: undefined, tsMs: 1704067200000, value: 1.25 }] });
  const s = parseSensorMessage(JSON.stringify({ site: 's1', ts: '2024-01-01T01:00:00+01:00', values: { a: 1, b: { vm: 2, va: -3 } } }), opts);
  assert.ok(s.ok);
  assert.deepEqual(s.readings.map((x) => [x.sensor, x.feature, x.tsMs, x.value]), [
    ['a', undefined, 1704067200000, 1], ['b', 'vm', 1704067200000, 2], ['b', 'va', 1704067200000, -3],
  ]);
  assert.equal(parseTimestamp('2024-01-01T00:05:00.123456Z'), 1704067500123);
  assert.equal(parseTimestamp('2024-01-01 00:05:00-0230'), 1704067500000 + 2.5 * 3600e3);
  assert.equal(parseTimestamp(1704067500000.9), 1704067500000);
  const back = parseSensorMessage(encodeSnapshot('x', 5, { a: 1 }), opts);
  assert.ok(back.ok && back.readings[0].tsMs === 5);
});

test('messages: every kind of bad input is rejected with its kind and a reason', () => {
  const kind = (text: string | null) => {
    const r = parseSensorMessage(text, opts);
    assert.equal(r.ok, false, `accepted ${text}`);
    return r.ok ? '' : `${r.kind}: ${r.error}`;
  };
  assert.match(kind(null), /^empty/);
  assert.match(kind('{"site": "s1", "sensor": '), /^malformed-json/);
  assert.match(kind('[1, 2]'), /^schema/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":1}'), /^schema: reading: value/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":1,"value":"3.5"}'), /^schema: reading: value: expected a number/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":1,"value":1,"extra":true}'), /^schema/);
  assert.match(kind('{"site":"","sensor":"a","ts":1,"value":1}'), /^schema: reading: site/);
  assert.match(kind(JSON.stringify({ site: 'a\nb', sensor: 'a', ts: 1, value: 1 })), /^schema: reading: site: must not contain control characters/);
  assert.match(kind(JSON.stringify({ site: 'north\\', sensor: 'a', ts: 1, value: 1 })), /^schema: reading: site: must not end with a backslash/);
  assert.match(kind('{"site":"s1","ts":1,"values":{}}'), /^schema: snapshot: values/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":1,"value":1e999}'), /^non-finite: value is Infinity/);
  assert.match(kind('{"site":"s1","ts":1,"values":{"a":1,"b":-1e999}}'), /^non-finite: values\.b/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":"yesterday","value":1}'), /^bad-timestamp/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":"2024-02-30T00:00:00Z","value":1}'), /^bad-timestamp: .*calendar/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":"2024-01-01T00:00:00","value":1}'), /^bad-timestamp/); // no zone
  assert.match(kind('{"site":"s1","sensor":"a","ts":-5,"value":1}'), /^bad-timestamp/);
  assert.match(kind(JSON.stringify({ site: 's1', sensor: 'a', ts: NOW + 120_000, value: 1 })), /^future-timestamp/);
  assert.equal(parseSensorMessage(JSON.stringify({ site: 's1', sensor: 'a', ts: NOW + 30_000, value: 1 }), opts).ok, true);
  // Outside InfluxDB's time range (and beyond what a JS Date holds): rejected, never thrown.
  assert.match(kind(JSON.stringify({ site: 's1', sensor: 'a', ts: 8.64e15 + 1, value: 1 })), /^bad-timestamp: .*outside 1677/);
  assert.match(kind(JSON.stringify({ site: 's1', sensor: 'a', ts: 1e300, value: 1 })), /^bad-timestamp: .*outside/);
  assert.match(kind(JSON.stringify({ site: 's1', sensor: 'a', ts: 9_300_000_000_000, value: 1 })), /^bad-timestamp: .*outside/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":"1600-01-01T00:00:00Z","value":1}'), /^bad-timestamp: .*outside/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":"0050-01-01T00:00:00Z","value":1}'), /^bad-timestamp: .*outside/);
  assert.match(kind('{"site":"s1","sensor":"a","ts":"2263-01-01T00:00:00Z","value":1}'), /^bad-timestamp: .*outside/);
  assert.equal(parseTimestamp('1700-01-01T00:00:00Z'), Date.UTC(1700, 0, 1));
  // The future check is against the record's timestamp, so it does not depend on when a message is processed.
  const stamped = JSON.stringify({ site: 's1', sensor: 'a', ts: Date.UTC(2030, 0, 1), value: 1 });
  assert.equal(parseSensorMessage(stamped, { nowMs: Date.UTC(2030, 0, 1), maxFutureMs: 0 }).ok, true);
  assert.equal(parseSensorMessage(stamped, { nowMs: Date.UTC(2029, 11, 31), maxFutureMs: 0 }).ok, false);
});

const I = 300_000;
const T0 = Date.parse('2024-01-01T00:00:00Z');
const align = (o: Record<string, unknown> = {}) => AlignConfigSchema.parse({ allowedLatenessMs: 2 * I, carryForwardSteps: 2, ...o });
const cellsOf = (s: AlignedStep) => Array.from(s.values);

test('aligner: complete steps close at once; out-of-order readings within the lateness give the in-order result', () => {
  const rows = Array.from({ length: 12 }, (_, t) => [t * 10 + 1, t * 10 + 2, t * 10 + 3]);
  const inOrder = new StepAligner(I, 3, align(), new Float64Array(3));
  const got: AlignedStep[] = [];
  rows.forEach((r, t) => r.forEach((v, c) => {
    inOrder.add(c, T0 + t * I, v);
    got.push(...inOrder.takeReady());
    // A step is emitted the moment its last cell arrives.
    assert.equal(got.length, c === 2 ? t + 1 : t);
  }));
  assert.deepEqual(got.map(cellsOf), rows);
  assert.ok(got.every((s) => !s.degraded && s.filled === 0));
  assert.equal(got[0].restart, true);
  assert.equal(got[1].restart, false);
  // Shuffle within ±1 step of event time (lateness is 2 steps), with jitter around the sampling instant.
  const msgs = rows.flatMap((r, t) => r.map((v, c) => ({ c, ts: T0 + t * I + ((t * 7 + c * 13) % 5 - 2) * 1000, v, key: t + ((t * 3 + c) % 3) * 0.4 })));
  msgs.sort((a, b) => a.key - b.key);
  const shuffled = new StepAligner(I, 3, align(), new Float64Array(3));
  for (const m of msgs) shuffled.add(m.c, m.ts, m.v);
  const out = [...shuffled.takeReady(), ...shuffled.flush()];
  assert.deepEqual(out.map(cellsOf), rows);
  assert.deepEqual(out.map((s) => s.tsMs), rows.map((_, t) => T0 + t * I));
  assert.equal(shuffled.counters.late, 0);
});

test('aligner: late readings are counted and dropped; duplicates and corrections are handled', () => {
  const a = new StepAligner(I, 2, align(), new Float64Array(2));
  const t0 = T0;
  a.add(0, t0, 1);
  a.add(0, t0, 5, 1); // same cell, same event time: the later arrival (a correction) wins
  a.add(0, t0 - 1000, 9); // older event time than the kept one: superseded
  a.add(1, t0, 2); // completes step 0: sealed and emitted
  assert.deepEqual(a.takeReady().map(cellsOf), [[5, 2]]);
  assert.equal(a.add(1, t0, 3), 'late'); // step already emitted
  a.add(0, t0 + 5 * I, 1); // watermark (max event time - 2 steps) moves to step 3: steps 1 and 2 close
  const closed = a.takeReady();
  assert.deepEqual(closed.map((s) => s.tsMs - t0), [I, 2 * I]);
  assert.equal(a.add(1, t0 + 2 * I, 7), 'late'); // its bucket is behind the watermark
  assert.deepEqual(a.counters, { ...a.counters, accepted: 3, replaced: 1, superseded: 1, late: 2, duplicates: 0 });
  const b = new StepAligner(I, 2, align({ emitWhenComplete: false }), new Float64Array(2));
  b.add(0, t0, 1);
  b.add(1, t0, 2);
  assert.equal(b.add(1, t0, 3), 'duplicate'); // complete buckets are sealed even while waiting for the watermark
});

test('aligner: carry-forward up to the limit, then the step is degraded; a long silence restarts the series', () => {
  const a = new StepAligner(I, 2, align({ allowedLatenessMs: 0, carryForwardSteps: 2, maxGapSteps: 10 }), Float64Array.from([100, 200]));
  const t0 = T0;
  const steps: AlignedStep[] = [];
  const push = (t: number, c: number, v: number) => { a.add(c, t0 + t * I, v); steps.push(...a.takeReady()); };
  push(0, 0, 1); push(0, 1, 2);
  for (let t = 1; t <= 4; t++) push(t, 0, 1 + t); // sensor 1 silent at steps 1..4
  push(5, 0, 6); push(5, 1, 20);
  assert.deepEqual(steps.map((s) => [s.step - steps[0].step, s.filled, s.degraded, s.missing]), [
    [0, 0, false, []], [1, 1, false, []], [2, 1, false, []], [3, 0, true, [1]], [4, 0, true, [1]], [5, 0, false, []],
  ]);
  assert.deepEqual(steps.slice(1, 5).map((s) => s.values[1]), [2, 2, 2, 2]);
  // Empty steps (no sensor at all) are filled the same way; beyond maxGapSteps the series restarts.
  push(8, 0, 7); push(8, 1, 8);
  assert.deepEqual(steps.slice(6).map((s) => [s.step - steps[0].step, s.filled, s.degraded]), [[6, 2, false], [7, 2, false], [8, 0, false]]);
  push(30, 0, 9); push(30, 1, 10);
  const last = steps[steps.length - 1];
  assert.equal(last.step - steps[0].step, 30);
  assert.equal(last.restart, true);
  assert.equal(a.counters.restarts, 1);
  // A never-seen cell gets the fallback and degrades the step.
  const b = new StepAligner(I, 2, align({ allowedLatenessMs: 0 }), Float64Array.from([100, 200]));
  b.add(0, t0, 1);
  b.add(0, t0 + I, 1);
  const [first] = b.takeReady();
  assert.deepEqual([...first.values], [1, 200]);
  assert.equal(first.degraded, true);
});

test('aligner: a snapshot restored mid-stream continues exactly like the original', () => {
  const cfg = align();
  const feed = (al: StepAligner, from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const t = Math.floor(i / 3) + ((i * 5) % 3 === 0 ? 1 : 0);
      if (i % 11 === 0) continue; // some readings missing
      al.add(i % 3, T0 + t * I, i * 0.5, i);
    }
    return al.takeReady();
  };
  const ref = new StepAligner(I, 3, cfg, new Float64Array(3));
  const all = [...feed(ref, 0, 60), ...feed(ref, 60, 120), ...ref.flush()];
  const a = new StepAligner(I, 3, cfg, new Float64Array(3));
  const part1 = feed(a, 0, 60);
  const restored = StepAligner.restore(I, cfg, new Float64Array(3), JSON.parse(JSON.stringify(a.snapshot())));
  const part2 = [...feed(restored, 60, 120), ...restored.flush()];
  assert.deepEqual([...part1, ...part2].map((s) => ({ ...s, values: cellsOf(s) })), all.map((s) => ({ ...s, values: cellsOf(s) })));
  assert.deepEqual(restored.counters, ref.counters);
});

/** A step as the scoring path hands it to the engine: the exceed flag from exceeds(), readings made up (sensor k expected k, observed 10 + k). */
function step(threshold: ThresholdState, o: Omit<StepObservation, 'exceeds' | 'readings'>): StepObservation {
  return { ...o, exceeds: exceeds(o.score, threshold.value), readings: (ks) => ks.map((k) => [{ feature: 'value', expected: k, observed: 10 + k }]) };
}

function engine(rule: Record<string, unknown> = {}, scores = Array.from({ length: 200 }, (_, i) => (i % 50) / 10)) {
  const threshold = quantileThreshold(scores, 0.99);
  return {
    threshold,
    engine: new AlertEngine(AlertRuleSchema.parse({ fireAfter: 3, ofLast: 5, resolveHoldMs: 3 * I, topSensors: 2, ...rule }), {
      site: 'north', modelVersion: 'v1', intervalMs: I, threshold, sensors: ['a', 'b', 'c'], calibrationMedians: [0, 1, 2],
      parents: (s) => (s === 'c' ? ['a', 'b'] : s === 'b' ? ['a'] : []),
    }),
  };
}

test('alerts: fire after N of the last M steps, hold before resolving (no flapping), deterministic fingerprint', () => {
  const { engine: e, threshold } = engine();
  const hi = threshold.value + 1;
  const lo = threshold.value - 1;
  const t0 = 1.7e12;
  const pattern = [lo, hi, lo, hi, lo, lo, lo, hi, hi, lo, hi, lo, lo, hi, lo, lo, lo, lo, lo, hi, lo];
  const events: Array<{ t: number; a: Alert }> = [];
  pattern.forEach((score, t) => {
    for (const a of e.observe(step(threshold, { tsMs: t0 + t * I, score, perSensor: [0.5, 3, 9], surprise: [0.5, 2, 7], implausible: [], usable: true }))) events.push({ t, a });
  });
  // Steps 1 and 3 exceed (2 of 5: no alert); 7, 8, 10 are 3 of the 5 steps 6..10: fires at 10, starting at 7.
  // The dip at 11-12 is shorter than the 3-step hold; after the last exceed (13), 14-16 stay below: resolved at 16.
  assert.deepEqual(events.map((x) => [x.t, x.a.status]), [[10, 'firing'], [16, 'resolved']]);
  const [fire, resolve] = events.map((x) => x.a);
  assert.equal(fire.fingerprint, fingerprintOf({ alertname: 'GanfAnomaly', site: 'north', severity: fire.labels.severity, model_version: 'v1' }));
  assert.equal(resolve.fingerprint, fire.fingerprint);
  assert.equal(fire.startsAt, new Date(t0 + 7 * I).toISOString());
  assert.equal(fire.endsAt, null);
  assert.equal(resolve.endsAt, new Date(t0 + 14 * I).toISOString());
  assert.deepEqual(fire.labels, { alertname: 'GanfAnomaly', site: 'north', severity: fire.labels.severity, model_version: 'v1' });
  assert.deepEqual(fire.topSensors, [
    { sensor: 'c', parents: ['a', 'b'], nll: 9, excess: 7, surprise: 7, readings: [{ feature: 'value', expected: 2, observed: 12 }] },
    { sensor: 'b', parents: ['a'], nll: 3, excess: 2, surprise: 2, readings: [{ feature: 'value', expected: 1, observed: 11 }] },
  ]);
  assert.match(fire.annotations.description, /c expected 2, observed 12 \(parents a, b\) \| b expected 1, observed 11 \(parents a\)/);
  assert.deepEqual(Object.keys(fire.annotations).sort(), ['description', 'summary'], 'annotations are human text only');
  assert.equal(resolve.evidence!.exceedingSteps, 4);
  assert.equal(resolve.evidence!.usableSteps, 10);
  // What the API ingests: exactly this shape.
  for (const a of [fire, resolve]) assert.deepEqual(parseAlert(JSON.parse(JSON.stringify(a))), a);
});

test('alerts: unusable steps are skipped, severity follows the tail probability, state survives a snapshot', () => {
  const calib = Array.from({ length: 2000 }, (_, i) => Math.log(1 + (i % 997)) + (i % 7) * 0.1);
  const threshold = spotThreshold(calib, { q: 1e-3, initialQuantile: 0.95 });
  const mk = () => new AlertEngine(AlertRuleSchema.parse({ fireAfter: 2, ofLast: 2, resolveHoldMs: 2 * I, criticalTailProbability: 1e-6 }), {
    site: 's', modelVersion: 'v', intervalMs: I, threshold, sensors: ['a'], calibrationMedians: [0], parents: () => [],
  });
  const big = threshold.value * 50;
  assert.ok(tailProbability(big, threshold) <= 1e-6);
  const e = mk();
  const obs = (t: number, score: number, usable = true) => e.observe(step(threshold, { tsMs: t * I, score, perSensor: [score], surprise: [score], implausible: [], usable }));
  assert.deepEqual(obs(0, big), []);
  assert.deepEqual(obs(1, big, false), []); // degraded: neither fires nor breaks the window
  const [fire] = obs(2, big);
  assert.equal(fire.status, 'firing');
  assert.equal(fire.labels.severity, 'critical');
  assert.equal(fire.startsAt, new Date(0).toISOString());
  obs(3, 0);
  // Restore into a fresh engine: the hold continues where it was.
  const copy = mk();
  copy.restore(JSON.parse(JSON.stringify(e.snapshot())));
  assert.deepEqual(copy.observe(step(threshold, { tsMs: 4 * I, score: 0, perSensor: [0], surprise: [0], implausible: [], usable: false })), []);
  const [res] = copy.observe(step(threshold, { tsMs: 5 * I, score: 0, perSensor: [0], surprise: [0], implausible: [], usable: true }));
  assert.equal(res.status, 'resolved');
  assert.equal(res.fingerprint, fire.fingerprint);
  assert.equal(res.endsAt, new Date(3 * I).toISOString());
  const w = mk();
  w.observe(step(threshold, { tsMs: 0, score: threshold.value * 1.001, perSensor: [1], surprise: [1], implausible: [], usable: true }));
  assert.equal(w.observe(step(threshold, { tsMs: I, score: threshold.value * 1.001, perSensor: [1], surprise: [1], implausible: [], usable: true }))[0].labels.severity, 'warning');
  assert.throws(() => AlertRuleSchema.parse({ fireAfter: 4, ofLast: 3 }), /fireAfter/);
});

test('alerts: a reading outside its plausible range raises a per-sensor implausible-value alert, resolved when the reading is back in range', () => {
  const { engine: e, threshold } = engine();
  const lo = threshold.value - 1;
  const t0 = 1.7e12;
  const obs = (t: number, implausible: number[]) => e.observe(step(threshold, { tsMs: t0 + t * I, score: lo, perSensor: [0.5, 3, 9], surprise: [0.5, 2, 7], implausible, usable: t !== 2 }));
  assert.deepEqual(obs(0, []), []);
  const [fire] = obs(1, [1]);
  assert.equal(fire.status, 'firing');
  assert.deepEqual(fire.labels, { alertname: 'GanfImplausibleValue', site: 'north', severity: 'warning', model_version: 'v1', sensor: 'b' });
  assert.deepEqual(fire.topSensors, [{ sensor: 'b', parents: ['a'], nll: 3, excess: 2, surprise: 2, readings: [{ feature: 'value', expected: 1, observed: 11 }] }]);
  assert.notEqual(fire.fingerprint, fingerprintOf({ ...fire.labels, sensor: 'c' }), 'one identity per sensor');
  assert.match(fire.annotations.summary, /b read outside its plausible range/);
  // Still out of range (a degraded step counts too), and a second sensor joins: one new alert, no repeat for b.
  const more = obs(2, [1, 2]);
  assert.deepEqual(more.map((m) => [m.labels.sensor, m.status]), [['c', 'firing']]);
  // b back in range: b resolves (ending after its last implausible step); c stays open, survives a snapshot.
  const back = obs(3, [2]);
  assert.deepEqual(back.map((m) => [m.labels.sensor, m.status, m.fingerprint]), [['b', 'resolved', fire.fingerprint]]);
  assert.equal(back[0].endsAt, new Date(t0 + 3 * I).toISOString());
  assert.equal(back[0].evidence!.exceedingSteps, 2);
  assert.deepEqual(parseAlert(JSON.parse(JSON.stringify(back[0]))), back[0]);
  const copy = engine().engine;
  copy.restore(JSON.parse(JSON.stringify(e.snapshot())));
  const done = copy.observe(step(threshold, { tsMs: t0 + 4 * I, score: lo, perSensor: [0.5, 3, 9], surprise: [0.5, 2, 7], implausible: [], usable: true }));
  assert.deepEqual(done.map((m) => [m.labels.sensor, m.status, m.fingerprint]), [['c', 'resolved', more[0].fingerprint]]);
  // The score alert is separate: none of this fired an anomaly alert.
  assert.ok([fire, ...more, ...back, ...done].every((m) => m.labels.alertname === 'GanfImplausibleValue'));
});

test('alerts: a stuck sensor raises a per-sensor stuck alert naming its run, resolved at its next new reading; a model change closes it', () => {
  const { engine: e, threshold } = engine();
  const lo = threshold.value - 1;
  const t0 = 1.7e12;
  const obs = (t: number, stuck: { k: number; steps: number }[]) => e.observe(step(threshold, { tsMs: t0 + t * I, score: lo, perSensor: [0.5, 3, 9], surprise: [0.5, 2, 7], implausible: [], stuck, usable: true }));
  assert.deepEqual(obs(0, []), []);
  const [fire] = obs(1, [{ k: 2, steps: 5 }]);
  assert.equal(fire.status, 'firing');
  assert.deepEqual(fire.labels, { alertname: 'GanfStuckSensor', site: 'north', severity: 'warning', model_version: 'v1', sensor: 'c' });
  assert.match(fire.annotations.description, /same value for 5 steps/);
  assert.deepEqual(fire.topSensors.map((t) => t.sensor), ['c']);
  // Still stuck: no repeat; its run keeps counting and the resolved notice reports the whole run.
  assert.deepEqual(obs(2, [{ k: 2, steps: 6 }]), []);
  const copy = engine().engine;
  copy.restore(JSON.parse(JSON.stringify(e.snapshot())));
  const [back] = copy.observe(step(threshold, { tsMs: t0 + 3 * I, score: lo, perSensor: [0.5, 3, 9], surprise: [0.5, 2, 7], implausible: [], stuck: [], usable: true }));
  assert.deepEqual([back.status, back.fingerprint, back.endsAt], ['resolved', fire.fingerprint, new Date(t0 + 3 * I).toISOString()]);
  assert.match(back.annotations.description, /same value for 6 steps/);
  assert.deepEqual(parseAlert(JSON.parse(JSON.stringify(back))), back);
  // Open at a model change: resolved with the reason, like every other open alert.
  obs(3, [{ k: 0, steps: 9 }]);
  const closed = e.resolveAll(t0 + 4 * I, 'model changed: v1 -> v2');
  assert.deepEqual(closed.map((m) => [m.labels.alertname, m.labels.sensor, m.status, m.annotations.resolved_reason]), [['GanfStuckSensor', 'a', 'resolved', 'model changed: v1 -> v2']]);
});
