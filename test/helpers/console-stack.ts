// The whole live system for the console's browser tests and the screenshot script: Kafka and
// InfluxDB (the shared local services), the streaming pipeline (KafkaPipeline, as `ganf serve`
// runs it) on the grid fixture, and the API consuming the pipeline's alerts topic and reading its
// InfluxDB scores, listening on 127.0.0.1 with the console at /ui. Unique topics and database.
import { initBackend } from '../../src/flow/tf.ts';
import { KafkaPipeline } from '../../src/stream/kafka-pipeline.ts';
import { KafkaSettingsSchema } from '../../src/stream/config.ts';
import { ProcessorSettingsSchema } from '../../src/stream/processor.ts';
import { InfluxSink } from '../../src/stream/sinks.ts';
import { startTestService, type TestService } from './api.ts';
import type { Detector } from '../../src/detector.ts';
import type { SeriesTable } from '../../src/data/table.ts';
import type { KafkaClient } from '../../src/adapters/kafka-client.ts';
import type { InfluxScoreStore } from '../../src/adapters/influx-store.ts';
import { tinyDetector, readingMessages, asOutgoing, TINY, type FixtureMessage } from './stream-fixture.ts';
import { fitDetector } from '../../src/detector.ts';
import { readCsvFile } from '../../src/adapters/csv-file.ts';
import { sliceRows } from '../../src/data/table.ts';
import { applyOverrides, loadConfigFile, parseConfig } from '../../src/config.ts';
import { kafkaClient, influxStore, runId, waitFor, KAFKA_BROKERS, INFLUX_URL } from './services.ts';

export interface ConsoleStack {
  det: Detector;
  /** A second version in the registry (fitted on later training rows), not active: for diff and promotion. */
  other: Detector;
  table: SeriesTable;
  site: string;
  svc: TestService;
  url: string;
  /** Sends the fixture's readings for steps [from, to) to the pipeline's input topic. */
  send(from: number, to: number): Promise<void>;
  /** Waits until the API holds at least n alerts. */
  alerts(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** The tiny grid model again, fitted on the training file's later rows: another learned graph. */
async function otherVersion(): Promise<Detector> {
  const config = parseConfig(applyOverrides(loadConfigFile('config/grid.json'), { ...TINY, 'train.seed': 7 }));
  const train = await readCsvFile('fixtures/grid/train.csv', { intervalMs: 300000 });
  return (await fitDetector(sliceRows(train, 1200, 2400), config)).detector;
}

export async function startConsoleStack(id = runId(), log: (what: string) => void = () => {}): Promise<ConsoleStack> {
  const client: KafkaClient = await kafkaClient(`ganf-console-${id}`);
  const store: InfluxScoreStore = await influxStore(`ganf_console_${id}`);
  await initBackend(); // the native backend: without it the pure-JS one fits the model 25x slower
  const { detector: det, test: table } = await tinyDetector('grid');
  const other = await otherVersion();
  log('models fitted');
  const site = 'grid-north';
  const topics = { inputTopic: `ganf-console-in-${id}`, alertsTopic: `ganf-console-alerts-${id}`, deadLetterTopic: `ganf-console-dlq-${id}`, stateTopic: `ganf-console-state-${id}`, stepsTopic: `ganf-console-steps-${id}` };
  const kafka = KafkaSettingsSchema.parse({ brokers: KAFKA_BROKERS, groupId: `ganf-console-${id}`, clientId: `ganf-console-${id}`, partitions: 1, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, logLevel: 'nothing', ...topics });
  const processing = ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 600_000 } });
  const sink = new InfluxSink(store, {});
  const pipeline = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sink] });
  await pipeline.start();
  log('pipeline started');
  const svc = await startTestService([det, other], {
    kafka: { brokers: KAFKA_BROKERS, alertsTopic: topics.alertsTopic, deadLetterTopic: `${topics.alertsTopic}.dlq`, groupId: `ganf-console-api-${id}`, stepsTopic: topics.stepsTopic, stepsGroupId: `ganf-console-api-steps-${id}`, fromBeginning: true, lagGroups: [] },
    influx: { url: INFLUX_URL, database: `ganf_console_${id}` },
    fsync: false,
  });
  const url = await svc.listen();
  log('API listening');
  const messages: FixtureMessage[] = readingMessages(table, det, site);
  const producer = await client.producer();
  return {
    det, other, table, site, svc, url,
    async send(from, to) {
      const part = asOutgoing(messages.filter((m) => m.step >= from && m.step < to));
      for (let i = 0; i < part.length; i += 2000) await producer.send(kafka.inputTopic, part.slice(i, i + 2000));
    },
    async alerts(n, timeoutMs = 60_000) {
      await waitFor(`${n} alerts in the API`, timeoutMs, async () => svc.deps.alerts.counts().total >= n);
    },
    async close() {
      await producer.close().catch(() => {});
      await svc.close();
      await pipeline.stop().catch(() => {});
      const admin = await client.admin();
      await admin.deleteTopics([...Object.values(topics), `${topics.alertsTopic}.dlq`]).catch(() => {});
      await admin.close();
      await store.dropDatabase().catch(() => {});
      det.model.dispose();
      other.model.dispose();
    },
  };
}
