/**
 * Silent sites through the real Kafka broker (127.0.0.1:9092) and InfluxDB (127.0.0.1:8086): two
 * sites on one partition, one stops sending; its open step is closed (degraded in InfluxDB) and a
 * GanfNoData alert is committed to the alerts topic; the pipeline is stopped and a new one resumes
 * from the checkpoint topic, and when the site sends again the same alert is resolved, once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/flow/tf.ts';
import { selectSensors } from '../src/data/table.ts';
import { encodeSnapshot } from '../src/stream/messages.ts';
import type { OutgoingMessage } from '../src/adapters/kafka-client.ts';
import { InfluxScoreStore, seriesRows } from '../src/adapters/influx-store.ts';
import { KafkaPipeline } from '../src/stream/kafka-pipeline.ts';
import { KafkaSettingsSchema } from '../src/stream/config.ts';
import { ProcessorSettingsSchema } from '../src/stream/processor.ts';
import { InfluxSink } from '../src/stream/sinks.ts';
import { alertId, fingerprintOf, type Alert } from '../src/scoring/alert.ts';
import { tinyDetector } from './helpers/stream-fixture.ts';
import { kafkaClient, influxStore, runId, waitFor, waitCommitted, readTopic, influxScores, INFLUX_URL, KAFKA_BROKERS } from './helpers/services.ts';

const I = 300_000;
const silence = { closeAfterMs: 3 * I, noDataAfterMs: 6 * I };
const settings = (o: Record<string, unknown>) => ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 0, carryForwardSteps: 0 }, ...o });

/** Topics, database, a tiny model and the messages of the sites; cleanup() deletes what it created. */
async function scenario(name: string) {
  const client = await kafkaClient(`ganf-${name}-e2e`);
  await influxStore('ganf_probe');
  await initBackend();
  const { detector: det, test: table } = await tinyDetector('grid');
  const id = runId();
  const t = { inputTopic: `ganf-${name}-in-${id}`, alertsTopic: `ganf-${name}-alerts-${id}`, deadLetterTopic: `ganf-${name}-dlq-${id}`, stateTopic: `ganf-${name}-state-${id}`, stepsTopic: `ganf-${name}-steps-${id}` };
  const kafka = KafkaSettingsSchema.parse({
    brokers: KAFKA_BROKERS, groupId: `ganf-${name}-${id}`, clientId: `ganf-${name}-${id}`, partitions: 1, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, logLevel: 'nothing', ...t,
  });
  const store = new InfluxScoreStore({ url: INFLUX_URL, database: `ganf_${name}_${id}` });
  const sink = () => new InfluxSink(store, {});
  const rows = selectSensors(table, det.sensors);
  const K = det.sensors.length;
  const ts = (s: number) => rows.timestamps[s];
  /** Site's snapshot of step s with its first `sensors` sensors (all by default). */
  const snapshot = (site: string, s: number, sensors = K, timestampMs?: number): OutgoingMessage => ({
    key: site, value: encodeSnapshot(site, ts(s), Object.fromEntries(det.sensors.slice(0, sensors).map((x, k) => [x, rows.values[s * K + k]]))),
    ...(timestampMs === undefined ? {} : { timestampMs }),
  });
  const producer = await client.producer();
  const alerts = async () => (await readTopic(client, kafka.alertsTopic)).map((r) => ({ a: JSON.parse(r.value!) as Alert, headers: r.headers }));
  const noData = async () => (await alerts()).filter((x) => x.a.labels.alertname === 'GanfNoData');
  const cleanup = async () => {
    await producer.close();
    const admin = await client.admin();
    await admin.deleteTopics(Object.values(t)).catch(() => {});
    await admin.close();
    await store.dropDatabase().catch(() => {});
  };
  return { client, det, kafka, store, sink, K, ts, snapshot, producer, alerts, noData, cleanup };
}

test('e2e: a site that stops sending gets its open step closed (degraded) and a GanfNoData alert, resolved once after a restart from the checkpoint when it sends again', { timeout: 120_000 }, async () => {
  const { client, det, kafka, store, sink, K, ts, snapshot, producer, alerts, noData, cleanup } = await scenario('sil');
  // The record-time path only: no wall-clock tick.
  const processing = settings({ silence: { ...silence, wallClockTickMs: 0 } });
  // "live" sends steps 0..139; "quiet" 0..58, half its sensors at 59, nothing for 60..99, then 100..139.
  // Record timestamps follow event time (a producer sending in real time), shifted to end now.
  const base = Date.now() - 140 * I - ts(0);
  const msgs: Array<{ step: number; m: OutgoingMessage }> = [];
  for (let s = 0; s < 140; s++) {
    msgs.push({ step: s, m: snapshot('live', s, K, ts(s) + base + 1000) });
    if (s < 59 || s >= 100) msgs.push({ step: s, m: snapshot('quiet', s, K, ts(s) + base + 1000) });
    else if (s === 59) msgs.push({ step: s, m: snapshot('quiet', s, Math.floor(K / 2), ts(s) + base + 1000) });
  }
  try {
    const first = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sink()] });
    await first.start();
    try {
      await producer.send(kafka.inputTopic, msgs.filter((x) => x.step < 100).map((x) => x.m));
      await waitFor('the GanfNoData firing on the alerts topic', 45_000, async () => (await noData()).length === 1);
      await waitCommitted(client, kafka.groupId, kafka.inputTopic);
    } finally {
      await first.stop();
    }
    const scores = await influxScores(store, 'quiet');
    assert.ok(scores.has(ts(59)), 'the open step was closed and scored without any later reading of the site');
    const deg = (await store.query(`SELECT degraded, usable FROM ganf_scores WHERE site = 'quiet' AND time = ${ts(59)}ms`)).flatMap(seriesRows);
    assert.deepEqual(deg.map((r) => [r.degraded, r.usable]), [[true, false]]);

    const second = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sink()] });
    await second.start();
    try {
      await producer.send(kafka.inputTopic, msgs.filter((x) => x.step >= 100).map((x) => x.m));
      await waitFor('every step of quiet in InfluxDB', 60_000, async () => (await influxScores(store, 'quiet')).size === 140);
      await waitCommitted(client, kafka.groupId, kafka.inputTopic);
    } finally {
      await second.stop();
    }
    const nd = await noData();
    const fp = fingerprintOf({ alertname: 'GanfNoData', site: 'quiet', severity: 'warning', model_version: det.modelVersion });
    const id = `${fp}-${ts(59)}`;
    assert.deepEqual(nd.map((x) => [x.a.fingerprint, x.a.status, x.a.labels.site, x.a.startsAt, x.a.endsAt, x.headers['alert-id'], x.headers['ganf-trigger-produced-at']]), [
      [fp, 'firing', 'quiet', new Date(ts(59)).toISOString(), null, id, ''],
      [fp, 'resolved', 'quiet', new Date(ts(59)).toISOString(), new Date(ts(100)).toISOString(), id, ''],
    ]);
    const ids = (await alerts()).map((x) => `${alertId(x.a)}/${x.a.status}`);
    assert.equal(new Set(ids).size, ids.length, 'no alert notification twice');
    assert.equal((await influxScores(store, 'live')).size, 140);
  } finally {
    await cleanup();
  }
});

test('e2e: a site alone on its partition that stops sending is detected by the wall-clock tick of an idle partition; its next reading resolves the alert', { timeout: 120_000 }, async () => {
  const { client, det, kafka, sink, K, ts, snapshot, producer, noData, cleanup } = await scenario('tick');
  // Record timestamps are the producer's clock (now); silence after 1.5 s / 2.5 s, a tick every 0.5 s.
  const processing = settings({ silence: { closeAfterMs: 1500, noDataAfterMs: 2500, wallClockTickMs: 500 } });
  const pipeline = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sink()] });
  await pipeline.start();
  try {
    await producer.send(kafka.inputTopic, [...Array.from({ length: 59 }, (_, s) => snapshot('alone', s)), snapshot('alone', 59, Math.floor(K / 2))]);
    const sentAt = Date.now();
    const firing = await waitFor('GanfNoData from the tick', 30_000, async () => (await noData())[0]);
    const waited = Date.now() - sentAt;
    assert.ok(waited >= 2000, `fired ${waited} ms after the last message: not before the site was silent for noDataAfterMs`);
    const fp = fingerprintOf({ alertname: 'GanfNoData', site: 'alone', severity: 'warning', model_version: det.modelVersion });
    assert.deepEqual([firing.a.fingerprint, firing.a.status, firing.a.startsAt], [fp, 'firing', new Date(ts(59)).toISOString()]);
    await producer.send(kafka.inputTopic, Array.from({ length: 5 }, (_, i) => snapshot('alone', 60 + i)));
    await waitFor('GanfNoData resolved', 30_000, async () => (await noData()).length === 2);
    const nd = await noData();
    assert.deepEqual(nd.map((x) => [x.a.fingerprint, x.a.status, x.a.endsAt]), [[fp, 'firing', null], [fp, 'resolved', new Date(ts(60)).toISOString()]]);
    await waitCommitted(client, kafka.groupId, kafka.inputTopic);
  } finally {
    await pipeline.stop();
    await cleanup();
  }
});
