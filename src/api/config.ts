// The API service's settings (config/api*.json), validated once with zod; errors name the field.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MEASUREMENTS } from '../stream/config.ts';
import { loadConfigFile, parseWith } from '../config.ts';
import { isIP } from 'node:net';

function validAllowEntry(e: string): boolean {
  const [net, prefix, more] = e.split('/');
  if (more !== undefined) return false;
  if (prefix === undefined) return isIP(net) !== 0 || /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(net);
  const max = isIP(net) === 4 ? 32 : isIP(net) === 6 ? 128 : -1;
  return /^\d+$/.test(prefix) && Number(prefix) <= max;
}

export const RoleSchema = z.enum(['reader', 'operator', 'admin']);
export type Role = z.infer<typeof RoleSchema>;

const KeySchema = z.strictObject({
  name: z.string().min(1).regex(/^[\w.@-]+$/, 'letters, digits, _ . @ - only'),
  role: RoleSchema,
  /** The key itself (development only), or the name of an environment variable holding it, or its sha256 (hex). */
  key: z.string().min(16).optional(),
  env: z.string().min(1).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
}).refine((k) => [k.key, k.env, k.sha256].filter((v) => v !== undefined).length === 1, {
  message: 'exactly one of key, env, sha256 is required',
});

const RateLimitSchema = z.strictObject({
  max: z.number().int().positive(),
  timeWindowMs: z.number().int().positive(),
});

export const ApiConfigSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Alert log, subscriptions, deliveries, API-created keys, refit jobs. */
  dataDir: z.string().default('var/api'),
  /** Model versions live in <modelsRoot>/versions/<version>, the pointer in <modelsRoot>/active. */
  modelsRoot: z.string().default('models'),
  /** The operator console at /ui: static files built from ui/console (npm run build:ui). */
  ui: z.strictObject({
    enabled: z.boolean().default(true),
    dir: z.string().default(fileURLToPath(new URL('../../dist/ui', import.meta.url))),
  }).prefault({}),
  bodyLimitBytes: z.number().int().positive().default(1 << 20),
  scoreBodyLimitBytes: z.number().int().positive().default(16 << 20),
  /** fsync every appended alert/delivery record (off only for benchmarks of the API itself). */
  fsync: z.boolean().default(true),
  auth: z.strictObject({
    keys: z.array(KeySchema).default([]),
    /** Routes (URL paths) open without a key besides /health, e.g. ["/ready", "/metrics"] for probes. */
    publicRoutes: z.array(z.string()).default([]),
  }).prefault({}),
  rateLimits: z.strictObject({
    score: RateLimitSchema.default({ max: 600, timeWindowMs: 60_000 }),
    refit: RateLimitSchema.default({ max: 6, timeWindowMs: 60_000 }),
    scores: RateLimitSchema.default({ max: 600, timeWindowMs: 60_000 }),
    graph: RateLimitSchema.default({ max: 120, timeWindowMs: 60_000 }),
    models: RateLimitSchema.default({ max: 30, timeWindowMs: 60_000 }),
  }).prefault({}),
  /** POST /score runs in a worker thread; at most this many requests run or wait, more get 503 + retry-after. */
  scoring: z.strictObject({
    maxQueued: z.number().int().min(1).default(4),
  }).prefault({}),
  sse: z.strictObject({
    heartbeatMs: z.number().int().positive().default(15_000),
    /** A client this far behind (bytes buffered) is disconnected; it reconnects with Last-Event-ID. */
    maxBufferedBytes: z.number().int().positive().default(4 << 20),
  }).prefault({}),
  webhooks: z.strictObject({
    maxAttempts: z.number().int().min(1).default(8),
    backoffBaseMs: z.number().int().positive().default(1000),
    backoffMaxMs: z.number().int().positive().default(300_000),
    timeoutMs: z.number().int().positive().default(10_000),
    /**
     * Receivers allowed even though they are not public: host names (exact), IP addresses or
     * CIDR ranges (e.g. "127.0.0.1", "10.20.0.0/16", "hooks.internal"). Everything else must
     * resolve to public addresses only (src/api/webhooks/target.ts).
     */
    allowedHosts: z.array(z.string().min(1).refine(validAllowEntry, 'a host name, an IP address or a CIDR range (address/prefix)')).default([]),
    /** false: only allowedHosts may be targets. */
    publicTargets: z.boolean().default(true),
    /** Least role that may create subscriptions (each one makes the server send requests). */
    createRole: RoleSchema.default('operator'),
    externalURL: z.string().default('http://127.0.0.1:8080'),
  }).prefault({}),
  kafka: z.strictObject({
    brokers: z.array(z.string()).min(1),
    clientId: z.string().default('ganf-api'),
    alertsTopic: z.string().default('ganf.alerts'),
    groupId: z.string().default('ganf-api-alerts'),
    /** Invalid alert messages are produced here (and counted) instead of blocking the partition. */
    deadLetterTopic: z.string().default('ganf.alerts.dlq'),
    /** Consumer groups whose lag /metrics reports (e.g. the streaming pipeline's). */
    lagGroups: z.array(z.strictObject({ groupId: z.string(), topic: z.string() })).default([]),
    /**
     * The steps topic `ganf serve` writes (its kafka.stepsTopic): every scored step feeds the drift
     * monitors and the refit buffer (src/api/steps). null: no live stream (no drift, no `stream` refits).
     */
    stepsTopic: z.string().nullable().default('ganf.steps'),
    stepsGroupId: z.string().default('ganf-api-steps'),
    /** Dead-letter topics whose message counts /metrics reports (e.g. the readings DLQ). */
    deadLetterTopics: z.array(z.string()).default([]),
    fromBeginning: z.boolean().default(true),
  }).optional(),
  influx: z.strictObject({
    url: z.string().default('http://127.0.0.1:8086'),
    database: z.string().default('ganf'),
    /** The streaming pipeline's layout (src/stream/config.ts MEASUREMENTS, written by sinks.ts): per-step scores... */
    scoresMeasurement: z.string().default(MEASUREMENTS.scores),
    /** ...and per-sensor scores (tag sensor). */
    sensorScoresMeasurement: z.string().default(MEASUREMENTS.sensorScores),
    /** ...and the pipeline's per-site ingest counters (reported in /metrics). */
    ingestMeasurement: z.string().default(MEASUREMENTS.ingest),
  }).optional(),
  drift: z.strictObject({
    /** Recent scores compared with the calibration scores by the KS test. */
    window: z.number().int().min(20).default(288),
    ksAlpha: z.number().gt(0).lt(1).default(1e-3),
    /** Page-Hinkley on scores standardised by the calibration mean/sd. */
    phDelta: z.number().min(0).default(1),
    phLambda: z.number().positive().default(200),
    /** Per-sensor mean of standardised inputs over the window beyond which a sensor is drifting (sd units). */
    meanShiftSd: z.number().positive().default(1.5),
  }).prefault({}),
  refit: z.strictObject({
    /** Roots a refit's CSV path must lie under. */
    dataDirs: z.array(z.string()).default(['data', 'fixtures']),
    /** Share of the (alert-free) buffer held out, most recent last, for shadow scoring. */
    holdoutFraction: z.number().gt(0.05).lt(0.6).default(0.25),
    /** Promotion rule: candidate mean NLL (nats per step, raw units) lower by at least this... */
    minImprovementNats: z.number().min(0).default(0.5),
    /** ...and candidate alert rate on the held-out steps at most the active's plus this. */
    alertRateTolerance: z.number().min(0).max(1).default(0.01),
    warmStart: z.boolean().default(true),
    /** Start a refit on the drifting site's recent stream steps when its drift monitor fires. */
    onDrift: z.boolean().default(false),
    /** ...once this many steps of the site have arrived after the drift; it trains on those steps only. */
    minStepsAfterDrift: z.number().int().min(50).default(864),
    /** Refit on the recent stream steps of the site seen last every N minutes (0 = never). */
    scheduleMinutes: z.number().min(0).default(0),
    /** Minimum time between two automatic refits. */
    cooldownMinutes: z.number().min(0).default(60),
    /** Training settings merged over the active model's config for refits. */
    train: z.record(z.string(), z.unknown()).default({}),
  }).prefault({}),
  live: z.strictObject({
    /** Recent stream steps kept per site (from kafka.stepsTopic): the `stream` refit source. */
    bufferSteps: z.number().int().min(10).default(2016),
  }).prefault({}),
  logger: z.boolean().default(false),
});

export type ApiConfig = z.infer<typeof ApiConfigSchema>;
export type ApiConfigInput = z.input<typeof ApiConfigSchema>;

export function parseApiConfig(raw: unknown, source = 'API config'): ApiConfig {
  return parseWith(ApiConfigSchema, raw, source);
}

export function loadApiConfig(file: string): ApiConfig {
  return parseApiConfig(loadConfigFile(file), path.basename(file));
}
