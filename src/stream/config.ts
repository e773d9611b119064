/**
 * `ganf serve` settings (JSON, validated by zod; errors name the field). Without a `kafka`
 * section the pipeline runs on the built-in in-process source (a CSV replayed in process), so it
 * needs no services; with one it consumes the input topic as a consumer group.
 */
import { z } from 'zod';
import { AlertRuleSchema } from '../scoring/alert-rule.ts';
import { loadConfigFile, parseWith } from '../config.ts';

// The stream's settings are all here, as schemas only (a leaf: the aligner, the event-time guard,
// the processor and the sinks import their settings from this file, never the other way round).

/** The event-time aligner's settings (aligner.ts). */
export const AlignConfigSchema = z.strictObject({
  /** How long (event time) a step stays open after its bucket ends, for late and out-of-order readings. */
  allowedLatenessMs: z.number().int().min(0).default(600_000),
  /** A missing reading is filled with the sensor's last value for at most this many consecutive steps. */
  carryForwardSteps: z.number().int().min(0).default(3),
  bucket: z.enum(['nearest', 'floor']).default('nearest'),
  /** More consecutive empty steps than this restart the series instead of being filled. */
  maxGapSteps: z.number().int().min(1).default(288),
  /** Close a step as soon as it is complete (low latency) instead of waiting for the watermark. */
  emitWhenComplete: z.boolean().default(true),
});
export type AlignConfig = z.infer<typeof AlignConfigSchema>;

/** The per-site event-time guard's settings (event-time-guard.ts). */
export const EventTimeGuardSchema = z.strictObject({
  /** A message this far (event time) ahead of the site's newest accepted reading is held as a candidate jump. */
  maxAheadMs: z.number().int().min(0).default(600_000),
  /** Held messages in a row (times within maxAheadMs of each other) that confirm a jump. */
  jumpConfirmations: z.number().int().min(1).max(16).default(3),
});
export type EventTimeGuardSettings = z.infer<typeof EventTimeGuardSchema>;

/** The stream processor's settings (processor.ts): `processing` in the serve config. */
export const ProcessorSettingsSchema = z.strictObject({
  align: AlignConfigSchema.prefault({}),
  alerts: AlertRuleSchema.prefault({}),
  /** Start each site's scorer from the model's training tail (data that directly follows training). */
  warmStart: z.boolean().default(false),
  /**
   * Steps after a cold start (or a restart after a long gap) that are scored but not used for
   * alerting: the recurrent state starts at zero, which the model never saw in training (it
   * warms its state up over burn-in steps). Default: the model's window. Not applied with warmStart.
   */
  warmupSteps: z.number().int().min(0).optional(),
  /**
   * Readings stamped more than this far ahead of their Kafka record's timestamp are rejected to the
   * dead-letter topic (the record timestamp, not the wall clock: a replay decides the same way).
   */
  maxFutureMs: z.number().int().min(0).default(300_000),
  /**
   * Hand-over to a newly activated model version (StreamProcessor.handOver): the new model's
   * recurrent state is warmed up on each site's last `warmupSteps` steps (their scores discarded:
   * the old model scored them) before it takes over. Each site keeps that many raw steps in its
   * state (and checkpoint). Default: processing.warmupSteps, else the model's window.
   */
  handover: z.strictObject({
    warmupSteps: z.number().int().min(0).optional(),
  }).prefault({}),
  /** Readings far ahead of the site's own recent data (see event-time-guard.ts). */
  eventTime: EventTimeGuardSchema.prefault({}),
  /**
   * Sites that stop sending, judged by record time (the Kafka record timestamps of the partition's
   * messages, never the wall clock inside the processor, so a replay decides the same way): a site
   * whose newest record is `closeAfterMs` older than the partition's newest record gets its open
   * steps closed (missing cells carried forward or degraded as usual); after `noDataAfterMs` it
   * raises a no-data alert (`alerts.noDataAlertname`), resolved by its next reading.
   * Defaults: closeAfterMs = align.allowedLatenessMs + the model's interval;
   * noDataAfterMs = max(closeAfterMs, 5 intervals).
   */
  silence: z.strictObject({
    enabled: z.boolean().default(true),
    closeAfterMs: z.number().int().min(1).optional(),
    noDataAfterMs: z.number().int().min(1).optional(),
    /**
     * `ganf serve` (Kafka): every this often, a partition that received nothing for as long gets the
     * wall clock as its record-time clock (see KafkaPipeline.tickIdle); 0 = never.
     */
    wallClockTickMs: z.number().int().min(0).default(30_000),
  }).prefault({}),
  /** Bounds on per-partition state, so a flood of names cannot grow a checkpoint past the state topic's limit. */
  limits: z.strictObject({
    /** Sites one input partition keeps state for; a message for a further site is dead-lettered (`site-limit`). */
    maxSitesPerPartition: z.number().int().min(1).default(10_000),
    /** Distinct unknown sensor names counted per site; a message naming a further one is dead-lettered (`unknown-sensor-limit`). */
    maxUnknownSensorsPerSite: z.number().int().min(0).default(1000),
  }).prefault({}),
});
export type ProcessorSettings = z.infer<typeof ProcessorSettingsSchema>;

/** InfluxDB measurements the pipeline writes (sinks.ts) and the API reads (api/config.ts defaults). */
export const MEASUREMENTS = {
  scores: 'ganf_scores',
  sensorScores: 'ganf_sensor_scores',
  alerts: 'ganf_alerts',
  ingest: 'ganf_ingest',
} as const;

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
   * API's drift monitors and refit buffer consume (src/stream/step-records.ts). null: not written.
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
