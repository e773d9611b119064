/**
 * `ganf serve` settings (JSON, validated by zod; errors name the field). Without a `kafka`
 * section the pipeline runs on the built-in in-process source (a CSV replayed in process), so it
 * needs no services; with one it consumes the input topic as a consumer group.
 */
import { z } from 'zod';
import { ProcessorSettingsSchema } from './processor.ts';
import { loadConfigFile, parseWith } from '../config.ts';

export const KafkaSettingsSchema = z.strictObject({
  brokers: z.array(z.string().min(1)).min(1),
  clientId: z.string().min(1).default('ganf-serve'),
  groupId: z.string().min(1).default('ganf-stream'),
  inputTopic: z.string().min(1).default('ganf.readings'),
  alertsTopic: z.string().min(1).default('ganf.alerts'),
  deadLetterTopic: z.string().min(1).default('ganf.readings.dlq'),
  /** Compacted changelog of the pipeline's state (checkpoints), one partition per input partition. */
  stateTopic: z.string().min(1).default('ganf.state'),
  /**
   * Every scored step (score, usability, raw values), written in the batch's transaction: what the
   * API's drift monitors and refit buffer consume (src/ingest/step-records.ts). null: not written.
   */
  stepsTopic: z.string().min(1).nullable().default('ganf.steps'),
  /** Partitions of topics the pipeline creates. */
  partitions: z.number().int().min(1).default(3),
  createTopics: z.boolean().default(true),
  /** A group without committed offsets starts at the beginning of the input topic. */
  fromBeginning: z.boolean().default(true),
  sessionTimeoutMs: z.number().int().min(6000).default(10000),
  heartbeatIntervalMs: z.number().int().min(100).default(1000),
  maxBytesPerPartition: z.number().int().min(1024).default(1048576),
  /** Partitions processed at the same time: one partition's sink and commit I/O overlaps another's scoring. */
  concurrency: z.number().int().min(1).default(4),
  transactionTimeoutMs: z.number().int().min(1000).default(60000),
  logLevel: z.enum(['nothing', 'error', 'warn', 'info', 'debug']).default('error'),
});
export type KafkaSettings = z.infer<typeof KafkaSettingsSchema>;

export const InfluxSettingsSchema = z.strictObject({
  url: z.string().url().default('http://127.0.0.1:8086'),
  database: z.string().min(1).default('ganf'),
  /** One point per sensor and step in ganf_sensor_scores (tag sensor). */
  perSensor: z.boolean().default(true),
  timeoutMs: z.number().int().min(100).default(10000),
});

export const SourceSettingsSchema = z.strictObject({
  /** The in-process source: a CSV (e.g. a fixture's test part) replayed as sensor messages. */
  csv: z.string().min(1).default('fixtures/grid/test.csv'),
  site: z.string().min(1).default('demo'),
  /** Event time per wall-clock time (1 = real time); 0 = as fast as possible. */
  speed: z.number().min(0).default(0),
  format: z.enum(['reading', 'snapshot']).default('reading'),
  /** Where scores.csv and alerts.jsonl go. */
  out: z.string().min(1).default('runs/serve'),
});

export const SinkSettingsSchema = z.strictObject({
  /** Attempts per sink write before the partition is paused. */
  attempts: z.number().int().min(1).default(3),
  retryDelayMs: z.number().int().min(0).default(200),
  /** First pause after a failed write (doubling per failure, at most maxPauseMs). */
  pauseMs: z.number().int().min(10).default(2000),
  maxPauseMs: z.number().int().min(10).default(60000),
});

export const StreamConfigSchema = z.strictObject({
  /** Model directory written by `ganf train` / `ganf backtest --save-model` / the demo (used without `registry`). */
  model: z.string().min(1).default('runs/demo/model'),
  /**
   * Follow the model registry instead of one directory: the version named by
   * `<modelsRoot>/active` (the API's `modelsRoot`, on a shared disk), re-read every `pollMs`;
   * a new active version takes over every site at each partition's next batch (src/stream/models.ts).
   * Kafka mode only.
   */
  registry: z.strictObject({
    modelsRoot: z.string().min(1),
    pollMs: z.number().int().min(50).default(2000),
  }).optional(),
  kafka: KafkaSettingsSchema.optional(),
  influx: InfluxSettingsSchema.optional(),
  source: SourceSettingsSchema.prefault({}),
  processing: ProcessorSettingsSchema.prefault({}),
  sink: SinkSettingsSchema.prefault({}),
  /** Prometheus metrics over HTTP (GET /metrics); off without a port. Port 0 = any free port. */
  metrics: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535),
  }).optional(),
  /** Progress line interval. */
  statsIntervalMs: z.number().int().min(100).default(10000),
});
export type StreamConfig = z.infer<typeof StreamConfigSchema>;

export function parseStreamConfig(raw: unknown, source = 'stream config'): StreamConfig {
  return parseWith(StreamConfigSchema, raw, source);
}

export function loadStreamConfig(file: string | undefined): unknown {
  return file ? loadConfigFile(file) : {};
}
