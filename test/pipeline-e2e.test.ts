/**
 * The whole chain with the real services (Kafka on 127.0.0.1:9092; start it with
 * `npm run services:start`), no hand-made alert message anywhere:
 *   `ganf replay` (CLI process) -> input topic -> `ganf serve` (CLI process, transactional Kafka
 *   pipeline) -> alerts topic -> the API (in process, consuming the alerts topic) -> its store,
 *   SSE at /alerts/stream (a client that drops mid-way and comes back with Last-Event-ID) and a
 *   signed webhook to a receiver on 127.0.0.1 -> POST /alerts/:id/ack.
 * What the API ends up with is compared with what the alert engine makes of batch scores of the
 * same data (test/helpers/stream-fixture.ts).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { initBackend } from '../src/flow/tf.ts';
import type { Detector } from '../src/detector.ts';
import type { SeriesTable } from '../src/data/table.ts';
import { ensureTopics, type KafkaClient } from '../src/adapters/kafka-client.ts';
import { ProcessorSettingsSchema } from '../src/stream/config.ts';
import { alertId, type Alert } from '../src/scoring/alert.ts';
import { verifySignature } from '../src/api/webhooks/payload.ts';
import type { AlertChange, StoredAlert } from '../src/api/alerts/store.ts';
import { startTestService, TEST_KEYS, type TestService } from './helpers/api.ts';
import { spawnServe, exited } from './helpers/serve-process.ts';
import { savedTinyDetector, batchScores, expectedAlerts, alertKey } from './helpers/stream-fixture.ts';
import { deleteTopics, kafkaClient, readTopic, runId, waitFor, waitCommitted, KAFKA_BROKERS } from './helpers/services.ts';

const run = promisify(execFile);
const SITE = 'grid-pipeline';
const SECRET = 'pipeline-e2e-webhook-secret-0123';
const FIXTURE_CSV = 'fixtures/grid/test.csv';

let client: KafkaClient;
let det: Detector;
let table: SeriesTable;
let dir: string;
const topics: string[] = [];

before(async () => {
  client = await kafkaClient('ganf-pipeline-e2e');
  await initBackend();
  ({ detector: det, test: table, dir } = await savedTinyDetector('ganf-pipeline-e2e-'));
});

after(async () => {
  det?.model.dispose();
  await deleteTopics(client, topics);
});

interface SseEvent { id: number; event: string; data: { seq: number; type: string; at: string; alert: StoredAlert & { silencedBy: string[] } } }

/**
 * An SSE client over real HTTP that hangs up by itself once it has taken `hangUpAfter` events
 * (events already on the wire after that are dropped, as a client that goes away loses them).
 */
function sseClient(url: string, headers: Record<string, string>, hangUpAfter = Infinity) {
  const ctl = new AbortController();
  const events: SseEvent[] = [];
  const state = { status: 0, ended: false };
  const take = (block: string): void => {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const m = /^(id|event|data): (.*)$/.exec(line);
      if (m) fields.set(m[1], (fields.get(m[1]) ?? '') + m[2]);
    }
    if (!fields.has('id')) return; // the retry hint and heartbeats
    events.push({ id: Number(fields.get('id')), event: fields.get('event') ?? 'message', data: JSON.parse(fields.get('data') ?? 'null') });
    if (events.length >= hangUpAfter) ctl.abort();
  };
  const done = (async () => {
    try {
      const res = await fetch(url, { headers, signal: ctl.signal });
      state.status = res.status;
      const dec = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body!) {
        buf += dec.decode(chunk as Uint8Array, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0 && !ctl.signal.aborted; i = buf.indexOf('\n\n')) {
          take(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
        if (ctl.signal.aborted) break;
      }
    } catch (err) {
      if (!ctl.signal.aborted) throw err;
    } finally {
      state.ended = true;
    }
  })();
  return { events, state, done, close: async () => { ctl.abort(); await done; } };
}

interface Delivery { headers: http.IncomingHttpHeaders; body: string; signed: boolean }

/** A webhook receiver on 127.0.0.1 that checks every request's HMAC signature (401 when it does not verify). */
async function webhookReceiver(secret: string) {
  const got: Delivery[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('utf8');
      const signed = verifySignature(secret, req.headers['x-ganf-signature'] as string | undefined, body);
      got.push({ headers: req.headers, body, signed });
      res.writeHead(signed ? 204 : 401).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** The alert's own fields, without the store's bookkeeping (and the view's silencedBy). */
function produced(a: StoredAlert & { silencedBy?: string[] }): Alert {
  const { id: _i, receivedAt: _r, updatedAt: _u, seq: _s, ack: _a, acks: _as, falsePositive: _f, silencedBy: _sb, ...alert } = a;
  return alert;
}

/**
 * Streamed and batch alerts are the same up to float rounding (float32 model state in the stream):
 * every string, boolean, null and array length equal; numbers within 1e-3 relative; numbers in
 * the human-readable description (4 significant digits) are not compared.
 */
function assertSameAlert(actual: unknown, expected: unknown, where: string): void {
  if (typeof expected === 'number') {
    assert.equal(typeof actual, 'number', `${where}: a number`);
    assert.ok(Math.abs((actual as number) - expected) <= 1e-3 * (1 + Math.abs(expected)), `${where}: ${actual} vs ${expected}`);
  } else if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length, `${where}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
    expected.forEach((e, i) => assertSameAlert((actual as unknown[])[i], e, `${where}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object', `${where}: an object`);
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), `${where}: the same fields`);
    for (const [k, e] of Object.entries(expected)) {
      const a: unknown = (actual as Record<string, unknown>)[k];
      if (k === 'description') assert.equal(String(a).replace(/-?\d[\d.e+-]*/g, '#'), String(e).replace(/-?\d[\d.e+-]*/g, '#'), `${where}.${k}`);
      else assertSameAlert(a, e, `${where}.${k}`);
    }
  } else {
    assert.equal(actual, expected, where);
  }
}

test('pipeline e2e: ganf replay -> ganf serve -> alerts topic -> API store, SSE across a Last-Event-ID reconnect, signed webhooks -> ack', { timeout: 120_000 }, async () => {
  const id = runId();
  const kafka = {
    inputTopic: `ganf-pipe-in-${id}`, alertsTopic: `ganf-pipe-alerts-${id}`, deadLetterTopic: `ganf-pipe-dlq-${id}`, stateTopic: `ganf-pipe-state-${id}`,
  };
  const apiDlq = `ganf-pipe-api-dlq-${id}`;
  topics.push(...Object.values(kafka), apiDlq);
  const admin = await client.admin();
  await ensureTopics(admin, [{ topic: kafka.inputTopic, partitions: 1 }]);
  await admin.close();

  const processing = ProcessorSettingsSchema.parse({ warmStart: true });
  const config = path.join(dir, `serve-${id}.json`);
  await writeFile(config, JSON.stringify({
    model: path.join(dir, 'model'),
    kafka: { brokers: KAFKA_BROKERS, groupId: `ganf-pipe-${id}`, clientId: `ganf-pipe-${id}`, partitions: 1, stepsTopic: null, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, logLevel: 'nothing', ...kafka },
    processing, statsIntervalMs: 1000,
  }));
  const rx = await webhookReceiver(SECRET);
  const svc: TestService = await startTestService([], {
    kafka: { brokers: KAFKA_BROKERS, alertsTopic: kafka.alertsTopic, groupId: `ganf-pipe-api-${id}`, deadLetterTopic: apiDlq, stepsTopic: null, lagGroups: [] },
    webhooks: { allowedHosts: ['127.0.0.1'] },
  }).catch(async (err: unknown) => {
    await rx.close();
    throw err;
  });
  const serveLog: string[] = [];
  let serve: ChildProcess | undefined;
  const sse: Array<ReturnType<typeof sseClient>> = [];
  try {
    serve = spawnServe(config, serveLog);
    const base = await svc.listen();
    const reader = { authorization: `Bearer ${TEST_KEYS.reader}` };
    const operator = { authorization: `Bearer ${TEST_KEYS.operator}` };
    const getJson = async (url: string, headers = reader) => {
      const r = await fetch(`${base}${url}`, { headers });
      assert.equal(r.status, 200, `GET ${url}`);
      return r.json() as Promise<any>;
    };

    // What the alert engine makes of batch scores of the fixture: what the API must end up with.
    const expected = expectedAlerts(det, SITE, batchScores(det, table, true), processing.alerts);
    const E = expected.length;
    assert.ok(E >= 6, `the fixture raises several alerts (got ${E} notifications)`);
    const instances = new Map(expected.map((a) => [alertId(a), a])); // each instance's last notification

    const sub = await fetch(`${base}/subscriptions`, {
      method: 'POST', headers: { ...operator, 'content-type': 'application/json' }, body: JSON.stringify({ url: rx.url, secret: SECRET, filter: { sites: [SITE] } }),
    });
    assert.equal(sub.status, 201, await sub.clone().text());
    const subscription = await sub.json() as { id: string };

    // The first SSE client takes half of the alert changes, then hangs up.
    const half = Math.floor(E / 2);
    const first = sseClient(`${base}/alerts/stream`, reader, half);
    sse.push(first);
    await waitFor('the first SSE client to connect', 10_000, async () => first.state.status === 200, 20);

    // `ganf replay` into the input topic, paced (snapshots of one step each) over about 4 s.
    const replay = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'replay', '--csv', FIXTURE_CSV, '--topic', kafka.inputTopic,
      '--brokers', KAFKA_BROKERS.join(','), '--site', SITE, '--format', 'snapshot', '--rate', String(360 * table.sensors.length)], { env: { ...process.env, GANF_QUIET_BACKEND: '1' } });
    assert.match(replay.stderr, new RegExp(`sent ${table.timestamps.length} messages \\(${table.timestamps.length} rows\\)`));

    // The first client hangs up mid-way; it reconnects with Last-Event-ID once it has missed something.
    await waitFor('the first SSE client to hang up', 45_000, async () => first.state.ended, 20);
    await first.done;
    assert.equal(first.events.length, half);
    const lastSeen = first.events.at(-1)!.id;
    await waitFor('an alert change while the SSE client is away', 30_000, async () => svc.deps.alerts.lastSeq() > lastSeen, 20);
    const second = sseClient(`${base}/alerts/stream`, { ...reader, 'last-event-id': String(lastSeen) });
    sse.push(second);

    // Every notification through the pipeline into the store, nothing more.
    await waitFor(`the API to store ${E} alert changes`, 45_000, async () => svc.deps.alerts.lastSeq() >= E, 100);
    await waitCommitted(client, `ganf-pipe-${id}`, kafka.inputTopic);
    assert.equal((await readTopic(client, kafka.alertsTopic)).length, E, 'one alerts-topic record per notification (transactional: no duplicates)');
    assert.equal((await readTopic(client, kafka.deadLetterTopic)).length, 0, 'no reading was dead-lettered');
    await waitFor('the API consumer to take every record', 10_000, async () => svc.consumer!.processed >= E, 50);
    assert.equal(svc.consumer!.processed, E);
    assert.equal(svc.deps.alerts.lastSeq(), E, 'one stored change per notification');

    // The store's changes, in order, are the alert engine's notifications on batch scores.
    const changes: AlertChange[] = svc.deps.alerts.changesSince(0);
    assert.deepEqual(changes.map((c) => c.type), Array(E).fill('alert'));
    assert.deepEqual(changes.map((c) => alertKey(c.alert)), expected.map(alertKey));
    changes.forEach((c, i) => assertSameAlert(produced(c.alert), expected[i], `change ${c.seq}`));

    // GET /alerts: one stored alert per instance, as its last notification (ids, status, times, top sensors with expected vs observed).
    const listed = (await getJson(`/alerts?site=${SITE}&limit=500`)).items as StoredAlert[];
    assert.deepEqual(listed.map((a) => a.id).sort(), [...instances.keys()].sort());
    for (const a of listed) {
      const e = instances.get(a.id)!;
      assert.equal(a.id, alertId(e));
      assert.equal(a.status, e.status);
      assert.equal(a.startsAt, e.startsAt);
      assert.equal(a.endsAt, e.endsAt);
      assert.equal(a.labels.model_version, det.modelVersion);
      assert.equal(a.ack, null);
      assertSameAlert(produced(a), e, `stored ${a.id}`);
    }
    assert.ok(listed.some((a) => a.status === 'resolved') && listed.some((a) => a.status === 'firing'), 'resolved and still firing alerts both reach the store');

    // Ack one alert (the one still firing at the end) with the operator key.
    const target = [...instances.values()].find((a) => a.status === 'firing')!;
    const ackRes = await fetch(`${base}/alerts/${alertId(target)}/ack`, {
      method: 'POST', headers: { ...operator, 'content-type': 'application/json' }, body: JSON.stringify({ comment: 'on it' }),
    });
    assert.equal(ackRes.status, 200, await ackRes.clone().text());
    const acked = await getJson(`/alerts/${alertId(target)}`);
    assert.equal(acked.seq, E + 1);
    assert.equal(acked.ack.by, 'operator');
    assert.equal(acked.ack.comment, 'on it');
    assert.deepEqual(acked.acks, [acked.ack]);
    assert.equal(acked.status, 'firing');
    assertSameAlert(produced(acked), target, 'acked alert');
    const readerAck = await fetch(`${base}/alerts/${alertId(target)}/ack`, { method: 'POST', headers: reader });
    assert.equal(readerAck.status, 403, 'a reader key may not ack');

    // SSE: across the hang-up, every change once and in order, the ack included, each as stored.
    await waitFor('the reconnected SSE client to catch up', 15_000, async () => second.events.length >= E + 1 - half, 20);
    await second.close();
    const seen = [...first.events, ...second.events];
    assert.deepEqual(seen.map((e) => e.id), Array.from({ length: E + 1 }, (_, i) => i + 1), 'every change exactly once, in order');
    assert.deepEqual(seen.map((e) => e.event), [...Array(E).fill('alert'), 'ack']);
    const all = svc.deps.alerts.changesSince(0);
    seen.forEach((e, i) => {
      assert.equal(e.data.seq, e.id);
      assert.equal(e.data.type, e.event);
      const { silencedBy, ...alert } = e.data.alert;
      assert.deepEqual(silencedBy, []);
      assert.deepEqual(alert, JSON.parse(JSON.stringify(all[i].alert)), `SSE event ${e.id} carries the alert as stored`);
    });
    assert.equal(seen.at(-1)!.data.alert.ack!.by, 'operator');

    // Webhooks: one delivery per change (the ack included), each signed, its payload the alert as stored.
    await waitFor(`${E + 1} webhook deliveries`, 15_000, async () => rx.got.length >= E + 1, 20);
    await svc.deps.dispatcher.drained();
    const deliveries = (await getJson(`/subscriptions/${subscription.id}/deliveries?limit=1000`, operator)).items as Array<{ eventSeq: number; status: string; attempts: unknown[] }>;
    assert.deepEqual(deliveries.map((d) => d.eventSeq).sort((a, b) => a - b), Array.from({ length: E + 1 }, (_, i) => i + 1));
    assert.ok(deliveries.every((d) => d.status === 'delivered' && d.attempts.length === 1), 'each delivered at the first attempt');
    assert.equal(rx.got.length, E + 1, 'no delivery twice');
    const bySeq = [...rx.got].sort((a, b) => Number(a.headers['x-ganf-event-id']) - Number(b.headers['x-ganf-event-id']));
    bySeq.forEach((d, i) => {
      assert.ok(d.signed, `delivery ${i + 1}: the signature verifies`);
      assert.ok(!verifySignature(SECRET, d.headers['x-ganf-signature'] as string, d.body.replace(SITE, 'elsewhere')), 'a tampered body does not verify');
      const body = JSON.parse(d.body);
      assert.equal(body.seq, i + 1);
      assert.equal(d.headers['x-ganf-event-id'], String(i + 1));
      assert.equal(body.type, all[i].type);
      assert.equal(d.headers['x-ganf-event'], all[i].type);
      assert.deepEqual(body.alert, JSON.parse(JSON.stringify(all[i].alert)), `delivery ${i + 1}: the alert as stored`);
    });
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- ganf serve, last lines:\n${serveLog.slice(-15).join('\n')}`;
    throw err;
  } finally {
    for (const c of sse) await c.close();
    await rx.close();
    if (serve) {
      serve.kill('SIGTERM');
      const stopped = await Promise.race([exited(serve), new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
      if (stopped === 'timeout') serve.kill('SIGKILL');
    }
    await svc.close();
  }
});
