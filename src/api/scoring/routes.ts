// POST /score: a batch of readings scored by the active model in a worker thread (causal scores,
// the model's threshold, top sensors with their DAG parents; bounded queue, 503 when saturated);
// GET /scores: per-step total and per-sensor scores for a time range from InfluxDB.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { quoteIdentifier, quoteString, seriesRows, type InfluxSeries, type ScoreStore } from '../../adapters/influx-store.ts';
import { HttpProblem, problemResponses } from '../problems.ts';
import type { ApiMetrics } from '../metrics.ts';
import type { ModelRegistry } from '../models/registry.ts';
import { TimeParam } from '../schemas.ts';
import { ScoreBodySchema, ScoreResponseSchema } from './score-body.ts';
import type { ScoringPool } from './pool.ts';
import { MAX_EVENT_MS, MIN_EVENT_MS } from '../../stream/messages.ts';

/** InfluxDB 1.x stores int64 nanoseconds: times outside this range cannot be queried. */
const INFLUX_RANGE = 'must lie between 1677-09-22 and 2262-04-10 (InfluxDB\'s time range)';
const inInfluxRange = (ms: number) => ms >= MIN_EVENT_MS && ms <= MAX_EVENT_MS;

export interface ScoreRoutesOptions {
  registry: ModelRegistry;
  metrics: ApiMetrics;
  pool: ScoringPool;
  influx: { store: ScoreStore; measurements: { scores: string; sensorScores: string } } | null;
  bodyLimit: number;
  rateLimits: { score: { max: number; timeWindowMs: number }; scores: { max: number; timeWindowMs: number } };
}

export async function scoreRoutes(app: FastifyInstance, opts: ScoreRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { registry, metrics } = opts;

  // The body arrives as raw bytes and is parsed and validated in the scoring worker: a 16 MB
  // request costs seconds of JSON parsing and schema checks, which must not stall other routes.
  // The schema stays on the route for the OpenAPI document; the worker applies the same one.
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) => done(null, body));
  r.post('/score', {
    bodyLimit: opts.bodyLimit,
    config: { rateLimit: { max: opts.rateLimits.score.max, timeWindow: opts.rateLimits.score.timeWindowMs } },
    validatorCompiler: () => (data: unknown) => ({ value: data }),
    schema: {
      tags: ['scoring'], summary: 'Score a batch of readings with the active model (in a worker thread; 503 + retry-after when saturated)',
      body: ScoreBodySchema,
      response: { 200: ScoreResponseSchema, ...problemResponses(400, 413, 422, 503) },
    },
  }, async (req, reply) => {
    const version = registry.activeVersion();
    if (!version) throw new HttpProblem(503, 'no model is active');
    const started = performance.now();
    const raw = req.body as unknown as Buffer;
    const out = await opts.pool.score({ dir: registry.dir(version), body: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) });
    metrics.stepsScored.inc({ model_version: out.modelVersion, source: 'api' }, out.steps);
    metrics.scoringLatency.observe({ source: 'api' }, (performance.now() - started) / 1000);
    // Already serialised (and shaped by ScoreResponseSchema) in the worker: sent as is.
    return reply.type('application/json; charset=utf-8').send(out.json as never);
  });

  r.get('/scores', {
    config: { rateLimit: { max: opts.rateLimits.scores.max, timeWindow: opts.rateLimits.scores.timeWindowMs } },
    schema: {
      tags: ['scoring'],
      summary: 'Per-step total and per-sensor scores for a time range, as the streaming pipeline writes them to InfluxDB (ganf_scores and ganf_sensor_scores; see docs/api.md)',
      querystring: z.object({
        from: TimeParam,
        to: TimeParam,
        site: z.string().min(1).optional(),
        sensors: z.string().optional().describe('Comma-separated sensors to include (default all; "-" for none)'),
        modelVersion: z.string().optional(),
        limit: z.coerce.number().int().min(1).max(100_000).default(10_000).describe('At most this many steps'),
      }).refine((q) => q.from < q.to, { message: 'from must be before to', path: ['from'] })
        .refine((q) => inInfluxRange(q.from), { message: INFLUX_RANGE, path: ['from'] })
        .refine((q) => inInfluxRange(q.to), { message: INFLUX_RANGE, path: ['to'] }),
      response: {
        200: z.object({
          from: z.string(), to: z.string(), site: z.string().nullable(), truncated: z.boolean(),
          steps: z.array(z.object({
            timestamp: z.string(), site: z.string(), modelVersion: z.string().nullable(),
            total: z.number().describe('The step\'s anomaly score (model.scoreAggregate of the window NLLs)'),
            threshold: z.number().nullable(), alert: z.boolean().nullable().describe('score above threshold'), degraded: z.boolean().nullable(),
            sensors: z.record(z.string(), z.object({ nll: z.number(), excess: z.number().nullable() })),
          })),
        }),
        ...problemResponses(400, 503),
      },
    },
  }, async (req) => {
    if (!opts.influx) throw new HttpProblem(503, 'no InfluxDB is configured (config.influx)');
    const { store, measurements } = opts.influx;
    const q = req.query;
    const where = [`time >= ${quoteString(new Date(q.from).toISOString())}`, `time < ${quoteString(new Date(q.to).toISOString())}`];
    if (q.site) where.push(`"site" = ${quoteString(q.site)}`);
    if (q.modelVersion) where.push(`"model_version" = ${quoteString(q.modelVersion)}`);
    const sensors = q.sensors === undefined ? undefined : q.sensors.split(',').map((x) => x.trim()).filter((x) => x && x !== '-');
    const totalsQ = `SELECT * FROM ${quoteIdentifier(measurements.scores)} WHERE ${where.join(' AND ')} GROUP BY "site" ORDER BY time ASC LIMIT ${q.limit + 1}`;
    const sensorWhere = sensors?.length ? [...where, `(${sensors.map((x) => `"sensor" = ${quoteString(x)}`).join(' OR ')})`] : where;
    // Per-sensor rows: at most limit+1 steps' worth per series (each series is one sensor).
    const sensorQ = `SELECT * FROM ${quoteIdentifier(measurements.sensorScores)} WHERE ${sensorWhere.join(' AND ')} GROUP BY "sensor", "site" ORDER BY time ASC LIMIT ${q.limit + 1}`;
    let totals: InfluxSeries[];
    let perSensor: InfluxSeries[];
    try {
      [totals, perSensor] = await Promise.all([
        store.query(totalsQ),
        sensors !== undefined && sensors.length === 0 ? Promise.resolve([]) : store.query(sensorQ),
      ]);
    } catch (err) {
      // The details (with the query text) go to the log only: they describe our schema, not the request.
      req.log.error({ err }, 'GET /scores: InfluxDB query failed');
      throw new HttpProblem(503, 'the score database (InfluxDB) is unavailable or failed the query; try again later');
    }
    type Step = { timestamp: string; site: string; modelVersion: string | null; total: number; threshold: number | null; alert: boolean | null; degraded: boolean | null; sensors: Record<string, { nll: number; excess: number | null }> };
    const steps = new Map<string, Step & { t: number }>();
    for (const sr of totals) {
      for (const row of seriesRows(sr)) {
        const t = Number(row.time);
        const site = String(row.site ?? sr.tags.site ?? '');
        steps.set(`${site}\u0000${t}`, {
          t, timestamp: new Date(t).toISOString(), site, modelVersion: (row.model_version as string) || null,
          total: Number(row.score), threshold: row.threshold == null ? null : Number(row.threshold),
          alert: row.exceed == null ? null : Boolean(row.exceed), degraded: row.degraded == null ? null : Boolean(row.degraded), sensors: {},
        });
      }
    }
    for (const sr of perSensor) {
      for (const row of seriesRows(sr)) {
        const step = steps.get(`${String(row.site ?? '')}\u0000${Number(row.time)}`);
        if (step && typeof row.sensor === 'string') step.sensors[row.sensor] = { nll: Number(row.nll), excess: row.excess == null ? null : Number(row.excess) };
      }
    }
    const ordered = [...steps.values()].sort((a, b) => a.t - b.t || a.site.localeCompare(b.site));
    const truncated = ordered.length > q.limit;
    return {
      from: new Date(q.from).toISOString(), to: new Date(q.to).toISOString(), site: q.site ?? null, truncated,
      steps: ordered.slice(0, q.limit).map(({ t: _t, ...rest }) => rest),
    };
  });
}
