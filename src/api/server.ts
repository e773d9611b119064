// Wires the service together from an ApiConfig: stores, model registry, the live stream's steps
// (drift monitors, refit buffer) and their topic consumer, refit jobs, webhook dispatcher, the
// alerts-topic consumer, InfluxDB, metrics and the Fastify app. `createApiService` is what `ganf api` and the tests use.
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { initBackend } from '../flow/tf.ts';
import { InfluxScoreStore, quoteIdentifier, seriesRows } from '../adapters/influx-store.ts';
import { createKafkaClient } from '../adapters/kafka-client.ts';
import { buildApp, type AppDeps } from './app.ts';
import { KeyStore } from './auth.ts';
import type { ApiConfig } from './config.ts';
import { ApiMetrics } from './metrics.ts';
import { JsonlAlertStore } from './alerts/store.ts';
import { SilenceStore } from './silences/store.ts';
import { AlertTopicConsumer } from './alerts/ingest.ts';
import { SubscriptionStore } from './webhooks/store.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';
import type { Resolver } from './webhooks/target.ts';
import { ScoringPool } from './scoring/pool.ts';
import { ModelRegistry } from './models/registry.ts';
import { LiveSteps } from './steps/live-steps.ts';
import { StepsTopicConsumer } from './steps/consumer.ts';
import { RefitJobs } from './refit/jobs.ts';
import { createLagProbe, type LagProbe } from './kafka-lag.ts';
import type { Check } from './health.ts';

export interface ApiService {
  app: FastifyInstance;
  deps: AppDeps;
  consumer: AlertTopicConsumer | null;
  steps: StepsTopicConsumer | null;
  /** Listens on config.host:config.port (port 0 = any free port); resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface ServiceOptions {
  env?: NodeJS.ProcessEnv;
  /** Start the alerts-topic consumer (default: when config.kafka is set). */
  consumeAlerts?: boolean;
  /** DNS resolution for webhook targets (tests: a name whose answer changes). */
  resolve?: Resolver;
}

export async function createApiService(config: ApiConfig, opts: ServiceOptions = {}): Promise<ApiService> {
  await initBackend();
  const metrics = new ApiMetrics();
  const keys = new KeyStore(config, opts.env);
  const alerts = new JsonlAlertStore(path.join(config.dataDir, 'alerts'), { sync: config.fsync });
  alerts.onChange(() => metrics.alertChanges.inc());
  const subs = new SubscriptionStore(path.join(config.dataDir, 'webhooks'), { sync: config.fsync });
  const silences = new SilenceStore(path.join(config.dataDir, 'silences'));
  const dispatcher = new WebhookDispatcher(subs, alerts, { ...config.webhooks, resolve: opts.resolve, silenced: (a) => silences.silencing(a).length > 0 }, metrics);
  const registry = await ModelRegistry.open(config.modelsRoot);
  const live = config.kafka?.stepsTopic ? new LiveSteps(registry, { bufferSteps: config.live.bufferSteps, drift: config.drift, metrics }) : null;
  const jobs = new RefitJobs({
    dataDir: path.join(config.dataDir, 'jobs'), registry, alerts, live, metrics,
    holdoutFraction: config.refit.holdoutFraction,
    rule: { minImprovementNats: config.refit.minImprovementNats, alertRateTolerance: config.refit.alertRateTolerance },
    baseOverrides: config.refit.train, allowedDataDirs: config.refit.dataDirs,
    onDrift: config.refit.onDrift, minStepsAfterDrift: config.refit.minStepsAfterDrift, scheduleMinutes: config.refit.scheduleMinutes, cooldownMinutes: config.refit.cooldownMinutes,
    defaultWarmStart: config.refit.warmStart,
  });

  const checks: Check[] = [];
  let influx: AppDeps['influx'] = null;
  let influxStore: InfluxScoreStore | null = null;
  if (config.influx) {
    influxStore = new InfluxScoreStore({ url: config.influx.url, database: config.influx.database });
    influx = { store: influxStore, measurements: { scores: config.influx.scoresMeasurement, sensorScores: config.influx.sensorScoresMeasurement } };
    const s = influxStore;
    checks.push({ name: 'database', check: async () => `InfluxDB ${await s.ping()} at ${s.url}` });
    const ingest = config.influx.ingestMeasurement;
    metrics.addCollector(async () => {
      const series = await s.query(`SELECT LAST(*) FROM ${quoteIdentifier(ingest)} GROUP BY "site"`);
      metrics.streamIngest.reset();
      for (const sr of series) {
        for (const row of seriesRows(sr)) {
          for (const [k, v] of Object.entries(row)) {
            if (!k.startsWith('last_') || typeof v !== 'number') continue;
            metrics.streamIngest.set({ counter: k.slice(5), site: String(sr.tags.site ?? '') }, v);
          }
        }
      }
    });
  }
  let probe: LagProbe | null = null;
  let consumer: AlertTopicConsumer | null = null;
  let steps: StepsTopicConsumer | null = null;
  if (config.kafka) {
    const k = config.kafka;
    probe = createLagProbe(k.brokers, k.clientId);
    const p = probe;
    checks.push({ name: 'broker', check: async () => `Kafka at ${k.brokers.join(',')} (${await p.ping()} topics)` });
    metrics.addCollector(async () => {
      metrics.consumerLag.reset();
      for (const g of [{ groupId: k.groupId, topic: k.alertsTopic }, ...k.lagGroups]) {
        for (const l of await p.lag(g.groupId, g.topic)) metrics.consumerLag.set({ group: g.groupId, partition: String(l.partition), topic: g.topic }, l.lag);
      }
    });
    metrics.addCollector(async () => {
      for (const t of [k.deadLetterTopic, ...k.deadLetterTopics]) metrics.deadLetterTopicMessages.set({ topic: t }, await p.size(t));
    });
    if (opts.consumeAlerts ?? true) {
      consumer = new AlertTopicConsumer(createKafkaClient({ brokers: k.brokers, clientId: k.clientId, logLevel: 'error' }), alerts, {
        alertsTopic: k.alertsTopic, groupId: k.groupId, deadLetterTopic: k.deadLetterTopic, fromBeginning: k.fromBeginning,
      }, metrics);
      if (live && k.stepsTopic) {
        steps = new StepsTopicConsumer(createKafkaClient({ brokers: k.brokers, clientId: `${k.clientId}-steps`, logLevel: 'error' }), live, {
          topic: k.stepsTopic, groupId: k.stepsGroupId, fromBeginning: k.fromBeginning,
        });
      }
    }
  }
  metrics.addCollector(() => {
    metrics.alerts.reset();
    for (const [k, n] of Object.entries(alerts.counts().byStatusSeverity)) {
      const [status, severity] = k.split('|');
      metrics.alerts.set({ severity, status }, n);
    }
    metrics.modelInfo.reset();
    const v = registry.activeVersion();
    if (v) metrics.modelInfo.set({ version: v }, 1);
    const d = live?.drift();
    if (d) {
      metrics.drift.set({ monitor: 'ks' }, d.ks.drifting ? 1 : 0);
      metrics.drift.set({ monitor: 'page_hinkley' }, d.pageHinkley.drifting ? 1 : 0);
      metrics.drift.set({ monitor: 'input_mean' }, d.inputs.some((i) => i.drifting) ? 1 : 0);
      if (d.ks.statistic !== null) metrics.driftKsStatistic.set({}, d.ks.statistic);
      if (d.ks.pValue !== null) metrics.driftKsPValue.set({}, d.ks.pValue);
      metrics.driftPageHinkley.set({}, d.pageHinkley.statistic);
      metrics.inputMeanShift.reset();
      for (const i of d.inputs) metrics.inputMeanShift.set({ sensor: i.sensor }, i.meanShiftSd);
    }
  });

  const scoring = new ScoringPool({ maxQueued: config.scoring.maxQueued });
  const deps: AppDeps = { config, keys, metrics, alerts, silences, subs, dispatcher, registry, live, jobs, influx, checks, resolve: opts.resolve, scoring };
  const app = await buildApp(deps);
  if (consumer) await consumer.start();
  if (steps) await steps.start();

  let closed = false;
  return {
    app, deps, consumer, steps,
    async listen() {
      await app.listen({ host: config.host, port: config.port });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.port;
      return `http://${config.host}:${port}`;
    },
    async close() {
      if (closed) return;
      closed = true;
      await consumer?.close();
      await steps?.close();
      await app.close();
      await scoring.close();
      await jobs.close();
      dispatcher.close();
      registry.dispose();
      alerts.close();
      subs.close();
      await probe?.close();
      await influxStore?.close();
    },
  };
}
