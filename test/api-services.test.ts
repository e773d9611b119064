// The API against the real local services (Kafka 127.0.0.1:9092, InfluxDB 127.0.0.1:8086; start
// them with `npm run services:start`). These tests FAIL, never skip, when a service is unreachable.
//  - alerts produced to the alerts topic by the streaming pipeline's AlertEngine reach the API;
//    invalid messages are dead-lettered and counted; consumer lag is in /metrics;
//  - GET /scores reads per-step total and per-sensor scores from InfluxDB;
//  - /ready checks broker, database and model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createKafkaClient, type IncomingMessage } from '../src/adapters/kafka-client.ts';
import { InfluxScoreStore } from '../src/adapters/influx-store.ts';
import { InfluxSink } from '../src/stream/sinks.ts';
import type { ScoredStep } from '../src/stream/processor.ts';
import { scoreTable } from '../src/detector.ts';
import { parentsOf } from '../src/dag-learning/extract.ts';
import { AlertEngine, AlertRuleSchema } from '../src/scoring/alert-engine.ts';
import { alertId, type Alert } from '../src/scoring/alert.ts';
import { fitTiny, fixtureRows, startTestService, type TestService } from './helpers/api.ts';
import { batchScores, observation } from './helpers/stream-fixture.ts';
import type { Detector } from '../src/detector.ts';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const INFLUX_URL = process.env.INFLUX_URL ?? 'http://127.0.0.1:8086';
const RUN = `${Date.now()}-${randomBytes(3).toString('hex')}`;
const TOPIC = `ganf.alerts.apitest-${RUN}`;
const DLQ = `${TOPIC}.dlq`;
const DB = `ganf_apitest_${RUN.replace(/-/g, '_')}`;
const HINT = 'Start the local services first: npm run services:start (see docs/services.md)';

let det: Detector;
let svc: TestService;
let influx: InfluxScoreStore;

async function waitFor(pred: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  influx = new InfluxScoreStore({ url: INFLUX_URL, database: DB });
  try {
    await influx.ping();
  } catch (err) {
    assert.fail(`InfluxDB is not reachable at ${INFLUX_URL} (${(err as Error).message}). ${HINT}`);
  }
  det = await fitTiny(await fixtureRows('grid', 'train', 0, 600));
  try {
    svc = await startTestService([det], {
      kafka: { brokers: BROKERS, alertsTopic: TOPIC, deadLetterTopic: DLQ, groupId: `api-test-${RUN}`, stepsTopic: null, fromBeginning: true, lagGroups: [] },
      influx: { url: INFLUX_URL, database: DB },
    });
  } catch (err) {
    assert.fail(`Kafka is not reachable at ${BROKERS.join(',')} (${(err as Error).message}). ${HINT}`);
  }
});

after(async () => {
  await svc?.close();
  await influx?.dropDatabase().catch(() => {});
  det?.model.dispose();
});

test('alerts the stream\'s AlertEngine produces to the alerts topic appear in the API; bad messages are dead-lettered', async () => {
  // Score the grid test fixture (it has labelled faults) and run the pipeline's alert engine on it.
  const table = await fixtureRows('grid', 'test', 0, 1440);
  const s = batchScores(det, table, true);
  const engine = new AlertEngine(AlertRuleSchema.parse({ fireAfter: 3, ofLast: 5, resolveHoldMs: 1_800_000 }), {
    site: 'grid-1', modelVersion: det.modelVersion, intervalMs: 300_000, threshold: det.threshold, sensors: det.sensors,
    calibrationMedians: det.calibrationMedians, parents: (x) => parentsOf(det.graph, x),
  });
  const messages: Alert[] = [];
  for (let t = 0; t < s.total.length; t++) {
    messages.push(...engine.observe(observation(det, s, t)));
  }
  assert.ok(messages.length >= 2, `the engine raised ${messages.length} notifications`);
  const instances = new Set(messages.map(alertId));

  const kafka = createKafkaClient({ brokers: BROKERS, clientId: `api-test-${RUN}`, logLevel: 'error' });
  const producer = await kafka.producer();
  try {
    await producer.send(TOPIC, [
      ...messages.map((m) => ({ key: m.fingerprint, value: JSON.stringify(m) })),
      { key: 'bad-1', value: '{"not": "an alert"' },
      { key: 'bad-2', value: JSON.stringify({ status: 'exploded', labels: { site: 'x' } }) },
      // At-least-once: redelivered notifications change nothing (a late "firing" after its
      // "resolved" is stale; the latest notification again is unchanged).
      { key: messages[0].fingerprint, value: JSON.stringify(messages[0]) },
      { key: messages.at(-1)!.fingerprint, value: JSON.stringify(messages.at(-1)) },
    ]);
    // Just under the topic's limit: its dead-letter copy (value + headers) would not fit uncut.
    await producer.send(TOPIC, [{ key: 'bad-3', value: Buffer.alloc(1_048_400, 0x5b) }]);
  } finally {
    await producer.close();
  }
  await waitFor(() => (svc.consumer?.processed ?? 0) >= messages.length + 5, 'the consumer to take every message');

  const items = JSON.parse((await svc.app.inject({ url: '/alerts?site=grid-1&limit=500', headers: svc.auth('reader') })).body).items;
  assert.equal(items.length, instances.size);
  const last = new Map(messages.map((m) => [alertId(m), m]));
  for (const a of items) {
    const m = last.get(a.id)!;
    assert.ok(m, `unexpected alert ${a.id}`);
    // Stored and served as produced: the same labels, evidence and top sensors (with expected vs observed).
    const { id: _id, receivedAt: _r, updatedAt: _u, seq: _s, ack: _a, acks: _as, falsePositive: _f, silencedBy: _sb, ...served } = a;
    assert.deepEqual(served, m);
    assert.equal(a.labels.model_version, det.modelVersion);
    for (const t of a.topSensors) assert.deepEqual(t.parents, parentsOf(det.graph, t.sensor));
  }
  const sensor = items[0].topSensors[0].sensor;
  const bySensor = JSON.parse((await svc.app.inject({ url: `/alerts?sensor=${sensor}&limit=500`, headers: svc.auth('reader') })).body).items;
  assert.ok(bySensor.some((a: any) => a.id === items[0].id));

  // Dead letters: the three bad messages, with the reason and origin in headers; the big one cut to fit.
  const dlq: IncomingMessage[] = [];
  const consumer = await kafka.consumer({ groupId: `api-test-dlq-${RUN}`, topics: [DLQ], fromBeginning: true });
  try {
    await consumer.run(async (b) => { dlq.push(...b.messages); });
    await waitFor(() => dlq.length >= 3, 'dead letters');
  } finally {
    await consumer.close();
  }
  assert.deepEqual(dlq.map((m) => m.key).sort(), ['bad-1', 'bad-2', 'bad-3']);
  const big = dlq.find((m) => m.key === 'bad-3')!;
  assert.equal(big.headers['x-truncated'], '1048400');
  assert.ok(big.rawValue!.length < 1_048_400 && big.rawValue!.every((b) => b === 0x5b));
  assert.equal(dlq[0].headers['x-source-topic'], TOPIC);
  assert.match(dlq.find((m) => m.key === 'bad-2')!.headers['x-error'], /status/);
  const metrics = (await svc.app.inject({ url: '/metrics', headers: svc.auth('reader') })).body;
  assert.match(metrics, new RegExp(`ganf_dead_lettered_messages_total\\{topic="${TOPIC.replace(/\./g, '\\.')}"\\} 3`));
  assert.match(metrics, new RegExp(`ganf_dead_letter_topic_messages\\{topic="${DLQ.replace(/\./g, '\\.')}"\\} 3`));
  assert.match(metrics, /ganf_alerts_ingested_total\{outcome="unchanged"\} 1/);
  assert.equal(messages[0].status, 'firing');
  assert.ok(messages.some((m) => m.status === 'resolved' && alertId(m) === alertId(messages[0])), 'the first alert resolves in the fixture');
  assert.match(metrics, /ganf_alerts_ingested_total\{outcome="stale"\} 1/);
  // Lag of the API's own consumer group; committed offsets catch up with the log end.
  await waitFor(async () => /ganf_consumer_lag_messages\{group="api-test-[^"]+",partition="0",topic="[^"]+"\} 0/.test((await svc.app.inject({ url: '/metrics', headers: svc.auth('reader') })).body), 'lag 0');
});

test('GET /scores returns per-step total and per-sensor scores for a time range, as the streaming pipeline\'s InfluxSink writes them', async () => {
  // Steps as the stream processor emits them, written with the pipeline's own sink.
  const table = await fixtureRows('grid', 'test', 0, 20);
  const s = scoreTable(det, table, { warmStart: true });
  const K = det.sensors.length;
  const steps: ScoredStep[] = [];
  const model = { version: det.modelVersion, threshold: det.threshold.value, sensors: det.sensors, calibrationMedians: det.calibrationMedians };
  for (const site of ['a', 'b']) {
    for (let t = 0; t < 20; t++) {
      steps.push({
        site, model, tsMs: s.timestamps[t], total: s.total[t] + (site === 'b' ? 100 : 0), perSensor: s.perSensor.slice(t * K, (t + 1) * K), values: Float64Array.from(table.values.slice(t * K, (t + 1) * K)),
        exceed: s.alerts[t] === 1, degraded: t === 3, usable: t !== 3, filled: 0, missing: [], drifted: [], stuck: [], restart: false, lastArrivalMs: s.timestamps[t],
      });
    }
  }
  const sink = new InfluxSink(influx, {});
  const stats = { site: 'a', accepted: 540, late: 2, duplicates: 1, replaced: 0, superseded: 0, unknown: {}, ignored: 0, emittedSteps: 20, filledCells: 3, degradedSteps: 1, restarts: 0, pendingSteps: 0, invalidSteps: 0, held: 0 };
  await sink.write({ steps, alerts: [], stats: [stats] });
  const q = (qs: string) => svc.app.inject({ url: `/scores?${qs}`, headers: svc.auth('reader') });
  const t0 = s.timestamps[0];
  const from = new Date(t0 + 2 * 300_000).toISOString();
  const to = new Date(t0 + 7 * 300_000).toISOString();
  const r = await q(`from=${from}&to=${to}&site=a`);
  assert.equal(r.statusCode, 200, r.body);
  const body = JSON.parse(r.body);
  assert.equal(body.steps.length, 5);
  assert.equal(body.truncated, false);
  body.steps.forEach((st: any, i: number) => {
    const t = 2 + i;
    assert.equal(st.timestamp, new Date(s.timestamps[t]).toISOString());
    assert.equal(st.site, 'a');
    assert.equal(st.modelVersion, det.modelVersion);
    assert.ok(Math.abs(st.total - s.total[t]) < 1e-3 * (1 + Math.abs(s.total[t])));
    assert.equal(st.alert, s.alerts[t] === 1);
    assert.equal(st.degraded, t === 3);
    assert.ok(Math.abs(st.threshold - det.threshold.value) < 1e-6);
    assert.deepEqual(Object.keys(st.sensors).sort(), [...det.sensors].sort());
    det.sensors.forEach((name, k) => {
      assert.ok(Math.abs(st.sensors[name].nll - s.perSensor[t * K + k]) < 1e-3 * (1 + Math.abs(s.perSensor[t * K + k])));
      assert.ok(Math.abs(st.sensors[name].excess - (s.perSensor[t * K + k] - det.calibrationMedians[k])) < 1e-3 * (1 + Math.abs(st.sensors[name].nll)));
    });
  });
  const some = JSON.parse((await q(`from=${t0}&to=${t0 + 3 * 300_000}&site=b&sensors=B02,B05`)).body);
  assert.deepEqual(some.steps.map((x: any) => Object.keys(x.sensors).sort()), [['B02', 'B05'], ['B02', 'B05'], ['B02', 'B05']]);
  assert.ok(Math.abs(some.steps[0].total - (s.total[0] + 100)) < 1e-2);
  const both = JSON.parse((await q(`from=${t0}&to=${t0 + 2 * 300_000}&sensors=-`)).body);
  assert.deepEqual(both.steps.map((x: any) => x.site), ['a', 'b', 'a', 'b'], 'all sites, time then site');
  assert.deepEqual(both.steps[0].sensors, {});
  const limited = JSON.parse((await q(`from=${t0}&to=${t0 + 20 * 300_000}&site=a&limit=4`)).body);
  assert.equal(limited.steps.length, 4);
  assert.equal(limited.truncated, true);
  const other = JSON.parse((await q(`from=${t0}&to=${t0 + 20 * 300_000}&modelVersion=nope`)).body);
  assert.equal(other.steps.length, 0);
  const bad = await q(`from=${to}&to=${from}`);
  assert.equal(bad.statusCode, 400);
  assert.equal(JSON.parse(bad.body).errors[0].field, 'querystring.from');
  // The pipeline's ingest counters reach /metrics.
  const m = (await svc.app.inject({ url: '/metrics', headers: svc.auth('reader') })).body;
  assert.match(m, /ganf_stream_ingest\{counter="accepted",site="a"\} 540/);
  assert.match(m, /ganf_stream_ingest\{counter="degraded_steps",site="a"\} 1/);
});

test('GET /ready checks broker, database and model; an unreachable database makes it 503', async () => {
  const ok = await svc.app.inject({ url: '/ready', headers: svc.auth('reader') });
  assert.equal(ok.statusCode, 200, ok.body);
  assert.deepEqual(JSON.parse(ok.body).checks.map((c: any) => c.name).sort(), ['broker', 'database', 'model']);
  const broken = await startTestService([], { influx: { url: 'http://127.0.0.1:9', database: 'x' } });
  try {
    const r = await broken.app.inject({ url: '/ready', headers: broken.auth('reader') });
    assert.equal(r.statusCode, 503);
    const checks = JSON.parse(r.body).checks;
    assert.equal(checks.find((c: any) => c.name === 'database').ok, false);
    assert.match(checks.find((c: any) => c.name === 'database').detail, /not reachable/);
    assert.equal(checks.find((c: any) => c.name === 'model').ok, false);
    const scores = await broken.app.inject({ url: '/scores?from=0&to=1000', headers: broken.auth('reader') });
    assert.equal(scores.statusCode, 503);
    assert.equal(JSON.parse(scores.body).type, '/problems/unavailable');
  } finally {
    await broken.close();
  }
});
