/**
 * Silent sites through the real Kafka broker (127.0.0.1:9092) and InfluxDB (127.0.0.1:8086): two
 * sites on one partition, one stops sending; its open step is closed (degraded in InfluxDB) and a
 * GanfNoData alert is committed to the alerts topic; the pipeline is stopped and a new one resumes
 * from the checkpoint topic, and when the site sends again the same alert is resolved, once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/flow/tf.ts';
import { selectSensors } from '../src/ingest/table.ts';
import { encodeSnapshot } from '../src/ingest/messages.ts';
import type { OutgoingMessage } from '../src/ingest/kafka-client.ts';
import { InfluxScoreStore, seriesRows } from '../src/ingest/influx-store.ts';
import { KafkaPipeline } from '../src/stream/kafka-pipeline.ts';
import { KafkaSettingsSchema } from '../src/stream/config.ts';
import { ProcessorSettingsSchema } from '../src/stream/processor.ts';
import { InfluxSink } from '../src/stream/sinks.ts';
import { noDataFingerprint, ZERO_TIME, type AlertMessage } from '../src/scoring/alert-engine.ts';
import { tinyDetector } from './helpers/stream-fixture.ts';
import { kafkaClient, influxStore, runId, waitFor, waitCommitted, readTopic, influxScores, INFLUX_URL, KAFKA_BROKERS } from './helpers/services.ts';

const I = 300_000;
const processing = ProcessorSettingsSchema.parse({
  warmStart: true, align: { allowedLatenessMs: 0, carryForwardSteps: 0 }, silence: { closeAfterMs: 3 * I, noDataAfterMs: 6 * I },
});

test('e2e: a site that stops sending gets its open step closed (degraded) and a GanfNoData alert, resolved once after a restart from the checkpoint when it sends again', { timeout: 120_000 }, async () => {
  const client = await kafkaClient('ganf-silence-e2e');
  await influxStore('ganf_probe');
  await initBackend();
  const { detector: det, test: table } = await tinyDetector('grid');
  const id = runId();
  const t = { inputTopic: `ganf-sil-in-${id}`, alertsTopic: `ganf-sil-alerts-${id}`, deadLetterTopic: `ganf-sil-dlq-${id}`, stateTopic: `ganf-sil-state-${id}` };
  const kafka = KafkaSettingsSchema.parse({
    brokers: KAFKA_BROKERS, groupId: `ganf-sil-${id}`, clientId: `ganf-sil-${id}`, partitions: 1, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, logLevel: 'nothing', ...t,
  });
  const store = new InfluxScoreStore({ url: INFLUX_URL, database: `ganf_sil_${id}` });
  const sink = () => new InfluxSink(store, { sensors: det.sensors, calibrationMedians: det.calibrationMedians, modelVersion: det.modelVersion, threshold: det.threshold.value });

  // "live" sends steps 0..139; "quiet" 0..58, half its sensors at 59, nothing for 60..99, then 100..139.
  // Record timestamps follow event time (a producer sending in real time), shifted to end now.
  const rows = selectSensors(table, det.sensors);
  const K = det.sensors.length;
  const ts = (s: number) => rows.timestamps[s];
  const base = Date.now() - 140 * I - ts(0);
  const msgs: Array<OutgoingMessage & { step: number }> = [];
  const add = (site: string, s: number, sensors: number) => msgs.push({
    step: s, key: site, timestampMs: ts(s) + base + 1000,
    value: encodeSnapshot(site, ts(s), Object.fromEntries(det.sensors.slice(0, sensors).map((x, k) => [x, rows.values[s * K + k]]))),
  });
  for (let s = 0; s < 140; s++) {
    add('live', s, K);
    if (s < 59 || s >= 100) add('quiet', s, K);
    else if (s === 59) add('quiet', s, Math.floor(K / 2));
  }
  const strip = (m: (typeof msgs)[number]): OutgoingMessage => ({ key: m.key, value: m.value, timestampMs: m.timestampMs });
  const producer = await client.producer();
  const alerts = async () => (await readTopic(client, kafka.alertsTopic)).map((r) => ({ a: JSON.parse(r.value!) as AlertMessage, headers: r.headers }));
  const noData = async () => (await alerts()).filter((x) => x.a.labels.alertname === 'GanfNoData');
  try {
    const first = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sink()] });
    await first.start();
    try {
      await producer.send(kafka.inputTopic, msgs.filter((m) => m.step < 100).map(strip));
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
      await producer.send(kafka.inputTopic, msgs.filter((m) => m.step >= 100).map(strip));
      await waitFor('every step of quiet in InfluxDB', 60_000, async () => (await influxScores(store, 'quiet')).size === 140);
      await waitCommitted(client, kafka.groupId, kafka.inputTopic);
    } finally {
      await second.stop();
    }
    const nd = await noData();
    const fp = noDataFingerprint(det.modelVersion, 'quiet', ts(59));
    assert.deepEqual(nd.map((x) => [x.a.fingerprint, x.a.status, x.a.labels.site, x.a.startsAt, x.a.endsAt, x.headers['alert-id'], x.headers['ganf-trigger-produced-at']]), [
      [fp, 'firing', 'quiet', new Date(ts(59)).toISOString(), ZERO_TIME, fp, ''],
      [fp, 'resolved', 'quiet', new Date(ts(59)).toISOString(), new Date(ts(100)).toISOString(), fp, ''],
    ]);
    const ids = (await alerts()).map((x) => `${x.a.fingerprint}/${x.a.status}`);
    assert.equal(new Set(ids).size, ids.length, 'no alert notification twice');
    assert.equal((await influxScores(store, 'live')).size, 140);
  } finally {
    await producer.close();
    const admin = await client.admin();
    await admin.deleteTopics(Object.values(t)).catch(() => {});
    await admin.close();
    await store.dropDatabase().catch(() => {});
  }
});
