/**
 * End to end through the real Kafka broker (127.0.0.1:9092) and InfluxDB (127.0.0.1:8086), which
 * must be running (npm test starts them; unreachable services FAIL these tests). Each test uses
 * its own topics, consumer group and database. A tiny model is fitted once on the grid fixture.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnServe, exited } from './helpers/serve-process.ts';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { initBackend } from '../src/flow/tf.ts';
import { saveDetector, type Detector } from '../src/detector.ts';
import { sliceRows, type SeriesTable } from '../src/data/table.ts';
import { ensureTopics, type IncomingMessage, type KafkaClient } from '../src/adapters/kafka-client.ts';
import { InfluxScoreStore, seriesRows } from '../src/adapters/influx-store.ts';
import { parseDeadLetter } from '../src/adapters/dead-letter.ts';
import { KafkaPipeline } from '../src/stream/kafka-pipeline.ts';
import { KafkaSettingsSchema } from '../src/stream/config.ts';
import { ProcessorSettingsSchema } from '../src/stream/processor.ts';
import { InfluxSink } from '../src/stream/sinks.ts';
import { replayTable } from '../src/stream/replay.ts';
import { alertId, describeTopSensors, parseAlert, type Alert } from '../src/scoring/alert.ts';
import { tinyDetector, readingMessages, expectedAlerts, batchScores, alertKey, assertSameReadings, asOutgoing } from './helpers/stream-fixture.ts';
import { deleteTopics, kafkaClient, influxStore, runId, waitFor, waitCommitted, readTopic, influxScores, influxCount, INFLUX_URL, KAFKA_BROKERS } from './helpers/services.ts';

let det: Detector;
let table: SeriesTable;
let modelDir: string;
let client: KafkaClient;
const stores: InfluxScoreStore[] = [];
const topics: string[] = [];

const processing = ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 600_000 } });
// The big injected anomalies of fixtures/grid (truth.json): forced oscillation, line trip, generator trip.
const INJECTED = [{ kind: 'forced_oscillation', start: 136, end: 151 }, { kind: 'line_trip', start: 296, end: 312 }, { kind: 'generator_trip', start: 584, end: 599 }];

before(async () => {
  client = await kafkaClient('ganf-stream-e2e');
  await influxStore('ganf_probe');
  await initBackend();
  ({ detector: det, test: table } = await tinyDetector('grid'));
  modelDir = path.join(await mkdtemp(path.join(tmpdir(), 'ganf-e2e-')), 'model');
  await saveDetector(det, modelDir);
});

after(async () => {
  await deleteTopics(client, topics);
  for (const s of stores) await s.dropDatabase().catch(() => {});
});

function names(id: string, partitions: number) {
  const t = { inputTopic: `ganf-e2e-in-${id}`, alertsTopic: `ganf-e2e-alerts-${id}`, deadLetterTopic: `ganf-e2e-dlq-${id}`, stateTopic: `ganf-e2e-state-${id}`, stepsTopic: `ganf-e2e-steps-${id}` };
  topics.push(...Object.values(t));
  return KafkaSettingsSchema.parse({
    brokers: KAFKA_BROKERS, groupId: `ganf-e2e-${id}`, clientId: `ganf-e2e-${id}`, partitions, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, logLevel: 'nothing', ...t,
  });
}

function newStore(id: string, url = INFLUX_URL): InfluxScoreStore {
  const s = new InfluxScoreStore({ url, database: `ganf_e2e_${id}` });
  stores.push(s);
  return s;
}

function sinkFor(store: InfluxScoreStore): InfluxSink {
  return new InfluxSink(store, {});
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * (1 + Math.abs(b));

function assertScoresMatchBatch(got: Map<number, number>, tbl: SeriesTable, what: string): void {
  const batch = batchScores(det, tbl, true);
  assert.equal(got.size, batch.total.length, `${what}: every step scored exactly once`);
  for (let t = 0; t < batch.total.length; t++) {
    const v = got.get(batch.timestamps[t]);
    assert.ok(v !== undefined, `${what}: step ${t} missing`);
    assert.ok(close(v, batch.total[t]), `${what}: step ${t} streamed ${v} vs batch ${batch.total[t]}`);
  }
}

function alertsOf(records: IncomingMessage[]): Alert[] {
  return records.map((r) => {
    // What the API's ingest accepts, exactly.
    const a = parseAlert(JSON.parse(r.value!));
    assert.equal(r.headers['alert-id'], alertId(a));
    assert.equal(r.headers['alert-status'], a.status);
    assert.equal(r.key, a.labels.site);
    return a;
  });
}

function assertNoDuplicates(alerts: Alert[]): void {
  const ids = alerts.map((a) => `${alertId(a)}/${a.status}`);
  assert.equal(new Set(ids).size, ids.length, `duplicate alert notifications: ${ids.filter((x, i) => ids.indexOf(x) !== i).join(', ')}`);
}

test('e2e: a replayed fixture yields alerts on the topic and in InfluxDB for the injected anomalies, scores equal to batch; bad messages go to the dead-letter topic', { timeout: 90_000 }, async () => {
  const id = runId();
  const kafka = names(id, 3);
  const store = newStore(id);
  const site = 'grid-e2e';
  const pipeline = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sinkFor(store)] });
  await pipeline.start();
  try {
    const producer = await client.producer();
    const good = asOutgoing(readingMessages(table, det, site, { shuffleSteps: 1.5, jitterMs: 20_000, extraSensors: ['B99'] }));
    const bad = [
      { key: site, value: '{"site": "grid-e2e", "sensor": "B01", "ts": ' },
      { key: site, value: JSON.stringify({ site, sensor: 'B01', ts: '2024-01-11T00:00:00Z' }) },
      { key: site, value: '{"site":"grid-e2e","sensor":"B01","ts":1704931200000,"value":-1e999}' },
      { key: site, value: JSON.stringify({ site, sensor: 'B01', ts: Date.now() + 86_400_000, value: 1 }) },
      { key: site, value: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) },
    ];
    const sends = [good.slice(0, 9000), bad.slice(0, 2), good.slice(9000, 20000), bad.slice(2), good.slice(20000)];
    for (const part of sends) for (let i = 0; i < part.length; i += 2000) await producer.send(kafka.inputTopic, part.slice(i, i + 2000));
    await producer.close();

    await waitFor('every step in InfluxDB', 45_000, async () => (await influxScores(store, site)).size === table.timestamps.length);
    await waitCommitted(client, kafka.groupId, kafka.inputTopic);
    const dead = await readTopic(client, kafka.deadLetterTopic);
    assertScoresMatchBatch(await influxScores(store, site), table, 'streamed');
    assert.equal(await influxCount(store, `SELECT count(nll) FROM ganf_sensor_scores WHERE site = '${site}'`), table.timestamps.length * det.sensors.length);

    // Alerts: exactly the alert engine's output on batch scores, covering the injected anomalies.
    const alerts = alertsOf(await readTopic(client, kafka.alertsTopic));
    assertNoDuplicates(alerts);
    const expected = expectedAlerts(det, site, batchScores(det, table, true), processing.alerts);
    assert.deepEqual(alerts.map(alertKey), expected.map(alertKey));
    assertSameReadings(alerts, expected, assert);
    const T0 = table.timestamps[0];
    const I = det.config.data.intervalMs;
    for (const inj of INJECTED) {
      const hit = alerts.find((a) => a.status === 'resolved' && Date.parse(a.startsAt) <= T0 + (inj.end + 6) * I && Date.parse(a.endsAt!) >= T0 + inj.start * I);
      assert.ok(hit, `an alert covers the injected ${inj.kind} at steps ${inj.start}..${inj.end}`);
      assert.ok(hit.topSensors.length === 3 && hit.topSensors.every((s) => Array.isArray(s.parents)));
      assert.ok(['critical', 'warning'].includes(hit.labels.severity));
    }
    const rows = (await store.query('SELECT fingerprint, status, ends_at, severity, top_sensors FROM ganf_alerts')).flatMap(seriesRows);
    const last = new Map(alerts.map((a) => [alertId(a), a]));
    assert.equal(rows.length, last.size, 'one InfluxDB row per alert');
    for (const r of rows) {
      const a = last.get(`${String(r.fingerprint)}-${Number(r.time)}`);
      assert.ok(a, `InfluxDB alert ${r.fingerprint} at ${r.time} is on the topic`);
      assert.equal(r.status, a.status);
      assert.equal(r.ends_at, a.endsAt ?? '');
      assert.equal(r.top_sensors, describeTopSensors(a.topSensors));
    }

    // Dead letters: original bytes, error kind, source coordinates; the consumer kept going.
    assert.equal(dead.length, 5);
    const letters = dead.map(parseDeadLetter);
    assert.deepEqual(letters.map((d) => d.kind).sort(), ['future-timestamp', 'malformed-json', 'malformed-json', 'non-finite', 'schema']);
    const input = await readTopic(client, kafka.inputTopic);
    for (const [i, d] of letters.entries()) {
      assert.equal(d.source.topic, kafka.inputTopic);
      const original = input.find((m) => m.partition === d.source.partition && m.offset === d.source.offset);
      assert.ok(original, 'the dead letter names its source record');
      assert.ok(Buffer.compare(original.rawValue!, dead[i].rawValue!) === 0, 'the dead letter carries the original payload byte for byte');
      assert.ok(d.error.length > 0);
    }
    const ingest = (await store.query(`SELECT last(unknown) AS unknown, last(unknown_sensors) AS names FROM ganf_ingest WHERE site = '${site}'`)).flatMap(seriesRows)[0];
    assert.equal(ingest.unknown, table.timestamps.length);
    assert.match(String(ingest.names), /^B99:1440$/);
    assert.equal(pipeline.stats.deadLetters, 5);
  } finally {
    await pipeline.stop();
  }
});

test('e2e: killing the consumer (SIGKILL) mid-stream and restarting it loses no step and duplicates no alert; SIGTERM stops it cleanly', { timeout: 120_000 }, async () => {
  const id = runId();
  const kafka = names(id, 2);
  const store = newStore(id);
  const site = 'grid-kill';
  const admin = await client.admin();
  await ensureTopics(admin, [{ topic: kafka.inputTopic, partitions: 2 }]);
  await admin.close();
  const config = path.join(path.dirname(modelDir), `serve-${id}.json`);
  // Small fetches: many small batches, so the kill lands between commits even on a loaded machine.
  await writeFile(config, JSON.stringify({
    model: modelDir, kafka: { ...kafka, maxBytesPerPartition: 65536 }, influx: { url: INFLUX_URL, database: store.database }, processing, statsIntervalMs: 1000,
  }));
  const log1: string[] = [];
  const first = spawnServe(config, log1);
  let second: ChildProcess | undefined;
  const log2: string[] = [];
  try {
    await waitFor('the first consumer to start', 30_000, async () => log1.some((l) => l.includes('consuming ')));
    // Produce the fixture paced over ~8 s so the kill lands mid-stream.
    const producer = await client.producer();
    const replay = replayTable(table, (m) => producer.send(kafka.inputTopic, m), { site, format: 'reading', rate: 5000 });
    const atKill = await waitFor('400 steps scored before the kill', 40_000, async () => {
      const n = (await influxScores(store, site)).size;
      return n >= 400 ? n : null;
    }, 100);
    first.kill('SIGKILL');
    await exited(first);
    assert.ok(atKill < table.timestamps.length, 'killed before the end of the stream');
    second = spawnServe(config, log2);
    await replay;
    await producer.close();
    await waitFor('every step in InfluxDB after the restart', 60_000, async () => (await influxScores(store, site)).size === table.timestamps.length);
    await waitCommitted(client, kafka.groupId, kafka.inputTopic);
    second.kill('SIGTERM');
    assert.equal(await exited(second), 0, `SIGTERM exits 0:\n${log2.slice(-5).join('\n')}`);
    assert.ok(log2.some((l) => l.includes('stopped cleanly')), 'graceful shutdown logged');
    // The restarted consumer resumed from the crashed one's checkpoint, not from scratch.
    assert.ok(log2.some((l) => /restored 1 site\(s\) on model \S+, resuming at offset [1-9]\d*/.test(l)), `restore from a checkpoint:\n${log2.filter((l) => l.includes('partition')).join('\n')}`);

    assertScoresMatchBatch(await influxScores(store, site), table, 'after kill and restart');
    const alerts = alertsOf(await readTopic(client, kafka.alertsTopic));
    assertNoDuplicates(alerts);
    assert.deepEqual(alerts.map(alertKey), expectedAlerts(det, site, batchScores(det, table, true), processing.alerts).map(alertKey));
  } finally {
    first.kill('SIGKILL');
    second?.kill('SIGKILL');
  }
});

test('e2e: two consumers in one group split the partitions and hand a partition\'s state over on rebalance', { timeout: 120_000 }, async () => {
  const id = runId();
  const kafka = names(id, 4);
  const store = newStore(id);
  const part = sliceRows(table, 0, 300);
  const sites = ['north', 'south', 'east', 'west', 'harbour', 'airport', 'mill', 'dam'];
  const a = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sinkFor(store)] });
  const b = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sinkFor(store)] });
  const producer = await client.producer();
  try {
    await a.start();
    const send = async (from: number, to: number) => {
      const msgs = sites.flatMap((s) => asOutgoing(readingMessages(sliceRows(part, from, to), det, s)));
      for (let i = 0; i < msgs.length; i += 2000) await producer.send(kafka.inputTopic, msgs.slice(i, i + 2000));
    };
    await send(0, 150);
    await waitFor('consumer A to score the first half', 45_000, async () => {
      for (const s of sites) if ((await influxScores(store, s)).size < 145) return false;
      return true;
    });
    const aBatches = a.stats.batches;
    await b.start();
    await waitFor('both consumers to own partitions', 30_000, async () => a.assignment.length > 0 && b.assignment.length > 0 && a.assignment.length + b.assignment.length === 4);
    assert.deepEqual([...a.assignment, ...b.assignment].sort(), [0, 1, 2, 3]);
    await send(150, 300);
    await waitFor('every site fully scored', 60_000, async () => {
      for (const s of sites) if ((await influxScores(store, s)).size < 300) return false;
      return true;
    });
    await waitCommitted(client, kafka.groupId, kafka.inputTopic);
    const used = new Set((await readTopic(client, kafka.inputTopic)).map((m) => m.partition));
    assert.ok(used.size >= 3, `the sites should spread over the partitions, used ${[...used]}`);
    assert.ok(a.stats.batches > aBatches, 'A kept consuming after the rebalance');
    assert.ok(b.stats.batches > 0 && b.stats.restores > 0, 'B consumed partitions it took over from A, restoring their state');
    for (const s of sites) assertScoresMatchBatch(await influxScores(store, s), part, `site ${s}`);
    const alerts = alertsOf(await readTopic(client, kafka.alertsTopic));
    assertNoDuplicates(alerts);
    for (const s of sites) {
      assert.deepEqual(alerts.filter((x) => x.labels.site === s).map(alertKey), expectedAlerts(det, s, batchScores(det, part, true), processing.alerts).map(alertKey));
    }
  } finally {
    await producer.close();
    await a.stop();
    await b.stop();
  }
});

/** A TCP proxy in front of InfluxDB that can be switched off: a real network outage for the sink. */
async function outageProxy(target: URL): Promise<{ url: string; up: boolean; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { up: true };
  const server = net.createServer((c) => {
    if (!state.up) return c.destroy();
    const u = net.connect(Number(target.port), target.hostname);
    sockets.add(c).add(u);
    c.pipe(u).pipe(c);
    const end = () => { c.destroy(); u.destroy(); sockets.delete(c); sockets.delete(u); };
    c.on('error', end).on('close', end);
    u.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get up() { return state.up; },
    set up(v: boolean) {
      state.up = v;
      if (!v) for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

test('e2e: while InfluxDB is unreachable the partition is paused and nothing is committed; when it is back everything is written', { timeout: 90_000 }, async () => {
  const id = runId();
  const kafka = names(id, 1);
  const proxy = await outageProxy(new URL(INFLUX_URL));
  const store = newStore(id);
  const viaProxy = new InfluxScoreStore({ url: proxy.url, database: store.database, timeoutMs: 1000 });
  const site = 'grid-outage';
  const part = sliceRows(table, 0, 400);
  const logs: string[] = [];
  const pipeline = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sinkFor(viaProxy)], sink: { attempts: 2, retryDelayMs: 50, pauseMs: 500, maxPauseMs: 2000 }, log: (m) => logs.push(m) });
  const producer = await client.producer();
  const committedOffset = async () => {
    const a = await client.admin();
    try {
      return (await a.fetchCommittedOffsets(kafka.groupId, kafka.inputTopic))[0]?.offset;
    } finally {
      await a.close();
    }
  };
  try {
    await pipeline.start();
    const msgs = asOutgoing(readingMessages(part, det, site));
    const third = Math.floor(msgs.length / 3);
    await producer.send(kafka.inputTopic, msgs.slice(0, third));
    await waitFor('the first third committed', 30_000, async () => (await committedOffset()) === String(third));
    const before = await committedOffset();
    assert.ok((await influxScores(store, site)).size >= Math.floor(part.timestamps.length / 3) - 2);
    proxy.up = false;
    await producer.send(kafka.inputTopic, msgs.slice(third, 2 * third));
    await waitFor('the sink failure to pause the partition', 20_000, async () => logs.some((l) => l.includes('paused for')));
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await committedOffset(), before, 'no offset committed while the sink is down');
    assert.ok(pipeline.stats.sinkFailures >= 2);
    proxy.up = true;
    await producer.send(kafka.inputTopic, msgs.slice(2 * third));
    await waitFor('every step written after the outage', 45_000, async () => (await influxScores(store, site)).size === part.timestamps.length);
    await waitCommitted(client, kafka.groupId, kafka.inputTopic);
    assertScoresMatchBatch(await influxScores(store, site), part, 'after the outage');
    const alerts = alertsOf(await readTopic(client, kafka.alertsTopic));
    assertNoDuplicates(alerts);
    assert.deepEqual(alerts.map(alertKey), expectedAlerts(det, site, batchScores(det, part, true), processing.alerts).map(alertKey));
  } finally {
    await producer.close();
    await pipeline.stop();
    await proxy.close();
  }
});
