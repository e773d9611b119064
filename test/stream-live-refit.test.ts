// The live loop with the real services: a rerouted grid (its topology changes part-way) streamed
// through `ganf serve` (the CLI process, following the model registry) into Kafka and InfluxDB;
// the API consumes the steps topic into its drift monitors; the drift fires after the change only,
// a drift-triggered refit trains on the post-drift steps, is promoted, and serve switches at a
// batch boundary. A rollback switches back, and serve is SIGKILLed during that hand-over and
// restarted. Every step's score is in InfluxDB exactly once and equals batch scoring with the
// version boundaries (the new version warmed up on the steps before its boundary); the alerts on
// the topic are exactly what the alert engine makes of those scores, the old model's open alerts
// resolved at each hand-over with the reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawnServe, exited } from './helpers/serve-process.ts';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadDetector, scoreTable, type Detector } from '../src/detector.ts';
import { sliceRows, type SeriesTable } from '../src/data/table.ts';
import { ensureTopics, type KafkaClient } from '../src/adapters/kafka-client.ts';
import { parseStepRecord } from '../src/stream/step-records.ts';
import { replayTable } from '../src/stream/replay.ts';
import { ProcessorSettingsSchema } from '../src/stream/processor.ts';
import { AlertEngine } from '../src/scoring/alert-engine.ts';
import type { Alert } from '../src/scoring/alert.ts';
import { parentsOf } from '../src/dag-learning/extract.ts';
import type { DriftState } from '../src/api/drift.ts';
import { fitTiny, reroutedGrid, startTestService, type TestService } from './helpers/api.ts';
import { observation, alertKey } from './helpers/stream-fixture.ts';
import { deleteTopics, kafkaClient, influxStore, influxScores, readTopic, runId, waitFor, waitCommitted, INFLUX_URL, KAFKA_BROKERS } from './helpers/services.ts';
import type { InfluxScoreStore } from '../src/adapters/influx-store.ts';

const DAY = 288;
const TRAIN = 6 * DAY;
const SHIFT = 7 * DAY;
/** Phase 1 (the first model): a day before the change, the drift, the refit's 600 post-drift steps and some more. */
const P2 = SHIFT + 700;
/** Phase 2 (the refitted model) and phase 3 (rolled back to the first). */
const P3 = P2 + 200;
const END = P3 + 200;
const SITE = 'grid-live';

let client: KafkaClient;
let store: InfluxScoreStore;
let det: Detector;
let data: { table: SeriesTable; shiftMs: number };
const topics: string[] = [];

before(async () => {
  client = await kafkaClient('ganf-live-refit');
  store = await influxStore(`ganf_live_${runId()}`);
  data = await reroutedGrid({ days: 11, shiftAt: SHIFT, lines: 1 });
  det = await fitTiny(sliceRows(data.table, 0, TRAIN));
});

after(async () => {
  det?.model.dispose();
  await deleteTopics(client, topics);
  await store.dropDatabase().catch(() => {});
});

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * (1 + Math.abs(b));

test('live loop: drift on the stream triggers a refit that is promoted; serve follows promotion and rollback (SIGKILLed mid-hand-over) scoring every step once, as batch scoring with the version boundaries', { timeout: 300_000 }, async () => {
  const id = runId();
  const kafka = {
    inputTopic: `ganf-live-in-${id}`, alertsTopic: `ganf-live-alerts-${id}`, deadLetterTopic: `ganf-live-dlq-${id}`, stateTopic: `ganf-live-state-${id}`, stepsTopic: `ganf-live-steps-${id}`,
  };
  topics.push(...Object.values(kafka), `ganf-live-api-dlq-${id}`);
  const admin = await client.admin();
  await ensureTopics(admin, [{ topic: kafka.inputTopic, partitions: 1 }]);
  await admin.close();

  const svc: TestService = await startTestService([det], {
    kafka: {
      brokers: KAFKA_BROKERS, alertsTopic: kafka.alertsTopic, groupId: `ganf-live-api-${id}`, deadLetterTopic: `ganf-live-api-dlq-${id}`,
      stepsTopic: kafka.stepsTopic, stepsGroupId: `ganf-live-api-steps-${id}`,
    },
    drift: { window: DAY, ksAlpha: 1e-3, phDelta: 1, phLambda: 200, meanShiftSd: 1.5 },
    live: { bufferSteps: 1000 },
    refit: { onDrift: true, minStepsAfterDrift: 600, cooldownMinutes: 0, holdoutFraction: 0.25, minImprovementNats: 1, train: { 'train.maxSteps': 40 } },
  });
  const processing = ProcessorSettingsSchema.parse({ warmStart: true });
  const W = det.config.model.window; // the hand-over warm-up (processing.handover.warmupSteps defaults to it)
  const config = path.join(svc.dir, 'serve.json');
  await writeFile(config, JSON.stringify({
    registry: { modelsRoot: svc.deps.registry.root, pollMs: 200 },
    kafka: { brokers: KAFKA_BROKERS, groupId: `ganf-live-${id}`, clientId: `ganf-live-${id}`, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, logLevel: 'nothing', maxBytesPerPartition: 16384, ...kafka },
    influx: { url: INFLUX_URL, database: store.database, perSensor: false },
    processing, statsIntervalMs: 1000,
  }));
  const fired: DriftState[] = [];
  svc.deps.live!.on('drift', (site: string, s: DriftState) => {
    if (site === SITE) fired.push(s);
  });
  const log1: string[] = [];
  const log2: string[] = [];
  const first = spawnServe(config, log1);
  let second: ChildProcess | undefined;
  const producer = await client.producer();
  const send = (from: number, to: number) => replayTable(sliceRows(data.table, from, to), (m) => producer.send(kafka.inputTopic, m), { site: SITE, format: 'snapshot' });
  const scored = async (n: number, what: string) => waitFor(what, 90_000, async () => (await influxScores(store, SITE)).size >= n, 200);
  const A = det.modelVersion;
  try {
    await waitFor('serve to start', 60_000, async () => log1.some((l) => l.includes('consuming ')));
    // Phase 1: the first model, before and after the topology change.
    await send(TRAIN, P2);
    await scored(P2 - TRAIN, 'phase 1 scored');
    const job = await waitFor('the drift-triggered refit', 60_000, async () => svc.deps.jobs.list()[0]);
    const done = await svc.deps.jobs.wait(job.id);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    assert.equal(done.trigger, 'drift');
    assert.equal(done.result!.outcome, 'promoted', done.result!.outcomeReason);
    const B = done.result!.version;
    assert.equal(svc.deps.registry.activeVersion(), B);
    // The refit trained on the drifting site's 600 steps after the drift, every one of them after the change.
    assert.equal(done.result!.bufferSteps, 600);
    assert.equal(done.result!.trainSteps + done.result!.heldOutSteps + done.result!.excludedSteps, 600);
    assert.ok(done.result!.evaluation.candidateMeanNll < done.result!.evaluation.activeMeanNll - 1, JSON.stringify(done.result!.evaluation));

    // The drift monitor: quiet on a day of the old regime, fired right after the change.
    assert.equal(fired.length, 1, 'the first model\'s drift monitor fired once');
    const drift = fired[0];
    const since = Date.parse(drift.since!);
    assert.ok(since >= data.shiftMs, `no drift before the change (fired ${(data.shiftMs - since) / 300_000} steps early)`);
    assert.ok(since <= data.shiftMs + 30 * 300_000, 'detected within 30 steps of the change');
    assert.equal(drift.modelVersion, A);
    // The same through the API (the first model's monitor until the stream's steps of the new version arrive).
    const api = JSON.parse((await svc.app.inject({ url: `/drift?site=${SITE}`, headers: svc.auth('reader') })).body);
    assert.equal(api.site, SITE);
    assert.equal(api.modelVersion, A);
    assert.equal(api.drifting, true);
    assert.equal(api.pageHinkley.drifting, true, 'Page-Hinkley');
    assert.equal(api.ks.drifting, true, 'KS on the score distribution');
    assert.ok(api.inputs.some((i: { drifting: boolean }) => i.drifting), 'per-sensor input mean shift');
    await waitFor('the API to take in every phase-1 step', 30_000, async () => svc.deps.live!.seqOf(SITE) === P2 - TRAIN);
    const metrics = (await svc.app.inject({ url: '/metrics', headers: svc.auth('reader') })).body;
    assert.match(metrics, /ganf_drift_detected\{monitor="page_hinkley"\} 1/);
    assert.match(metrics, new RegExp(`ganf_steps_scored_total\\{model_version="${A}",source="stream"\\} ${P2 - TRAIN}\\b`));
    const models = JSON.parse((await svc.app.inject({ url: '/models', headers: svc.auth('reader') })).body);
    assert.equal(models.active.reason, 'refit');
    assert.deepEqual(models.active.history, [A]);

    // Phase 2: serve has seen the promotion; the next batch is scored by the refitted model.
    await waitFor('serve to see the promotion', 30_000, async () => log1.some((l) => l.includes(`version ${B} active`)));
    await send(P2, P3);
    await scored(P3 - TRAIN, 'phase 2 scored');
    assert.ok(log1.some((l) => l.includes(`model changed: ${A} -> ${B}`)), 'serve handed the partition over');
    await waitCommitted(client, `ganf-live-${id}`, kafka.inputTopic);

    // Phase 3: a rollback; serve is killed as soon as it starts the hand-over, and restarted.
    const rb = await svc.app.inject({ method: 'POST', url: '/models/rollback', headers: svc.auth('operator') });
    assert.equal(rb.statusCode, 200, rb.body);
    await waitFor('serve to see the rollback', 30_000, async () => log1.some((l) => l.includes(`version ${A} active`)));
    await send(P3, END);
    await waitFor('the hand-over back to the first model', 30_000, async () => log1.some((l) => l.includes(`model changed: ${B} -> ${A}`)), 20);
    first.kill('SIGKILL');
    await exited(first);
    second = spawnServe(config, log2);
    await scored(END - TRAIN, 'every step scored after the restart');
    await waitCommitted(client, `ganf-live-${id}`, kafka.inputTopic);
    second.kill('SIGTERM');
    assert.equal(await exited(second), 0, log2.slice(-5).join('\n'));
    // The restart resumes on the version the checkpoint names: killed before the hand-over's batch
    // committed, on the refitted model at the phase-3 offset, handing over there again; after, on the first model.
    const partitionLog = log2.filter((l) => l.includes('partition')).join('\n');
    const restored = /restored 1 site\(s\) on model (\S+), resuming at offset (\d+)/.exec(partitionLog);
    assert.ok(restored, `the restart restored the checkpoint:\n${partitionLog}`);
    const [, version, offset] = restored;
    const redone = partitionLog.includes(`model changed: ${B} -> ${A} at offset ${P3 - TRAIN}`);
    assert.ok((version === B && Number(offset) === P3 - TRAIN && redone) || (version === A && Number(offset) > P3 - TRAIN && !redone), partitionLog);

    // Scores: every step once, equal to batch scoring with the boundaries at P2 and P3.
    const b = await loadDetector(svc.deps.registry.dir(B));
    const a1 = scoreTable(det, sliceRows(data.table, TRAIN, P2), { warmStart: true, expected: true });
    const b2 = scoreTable(b, sliceRows(data.table, P2 - W, P3), { expected: true });
    const a3 = scoreTable(det, sliceRows(data.table, P3 - W, END), { expected: true });
    const phases = [
      { det, s: a1, from: 0, version: A }, { det: b, s: b2, from: W, version: B }, { det, s: a3, from: W, version: A },
    ];
    const got = await influxScores(store, SITE);
    assert.equal(got.size, END - TRAIN, 'one score per step in InfluxDB');
    for (const p of phases) {
      for (let t = p.from; t < p.s.total.length; t++) {
        const v = got.get(p.s.timestamps[t]);
        assert.ok(v !== undefined && close(v, p.s.total[t]), `step ${new Date(p.s.timestamps[t]).toISOString()} of ${p.version}: streamed ${v} vs batch ${p.s.total[t]}`);
      }
    }
    // The steps topic (what the drift monitors read): each step once, by the version of its phase.
    const steps = (await readTopic(client, kafka.stepsTopic)).map((m) => parseStepRecord(m.value));
    assert.deepEqual(steps.map((s) => s.tsMs), Array.from(data.table.timestamps.slice(TRAIN, END)));
    const versionAt = (t: number) => (t < P2 ? A : t < P3 ? B : A);
    assert.deepEqual(steps.map((s) => s.modelVersion), Array.from({ length: END - TRAIN }, (_, i) => versionAt(TRAIN + i)));

    // Alerts: exactly the engine's output on those scores, each model's open alerts resolved at its hand-over.
    const expected: Alert[] = [];
    let engine: AlertEngine | null = null;
    for (const p of phases) {
      if (engine) expected.push(...engine.resolveAll(p.s.timestamps[p.from - 1], 'x'));
      engine = new AlertEngine(processing.alerts, {
        site: SITE, modelVersion: p.det.modelVersion, intervalMs: 300_000, threshold: p.det.threshold, sensors: p.det.sensors,
        calibrationMedians: p.det.calibrationMedians, parents: (x) => parentsOf(p.det.graph, x),
      });
      for (let t = p.from; t < p.s.total.length; t++) expected.push(...engine.observe(observation(p.det, p.s, t)));
    }
    const alerts = (await readTopic(client, kafka.alertsTopic)).map((m) => JSON.parse(m.value!) as Alert);
    assert.deepEqual(alerts.map(alertKey), expected.map(alertKey));
    // Resolved at a hand-over: the same alerts as expected, each saying why.
    assert.deepEqual(alerts.filter((x) => x.annotations.resolved_reason).map(alertKey), expected.filter((x) => x.annotations.resolved_reason).map(alertKey));
    for (const x of alerts.filter((y) => y.annotations.resolved_reason)) assert.match(x.annotations.resolved_reason!, /^model changed: \S+ -> \S+$/);
    const firing = new Set(alerts.filter((x) => x.status === 'firing').map((x) => x.fingerprint));
    for (const x of alerts) if (x.status === 'resolved') firing.delete(x.fingerprint);
    const stillOpen = [...firing].map((f) => alerts.find((x) => x.fingerprint === f)!);
    assert.ok(stillOpen.every((x) => x.labels.model_version === A && Date.parse(x.startsAt) >= data.table.timestamps[P3]), 'only alerts of the last model version may still be open');
    b.model.dispose();
  } finally {
    await producer.close();
    first.kill('SIGKILL');
    second?.kill('SIGKILL');
    await svc.close();
  }
});
