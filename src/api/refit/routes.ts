// POST /refit (starts a background refit job), GET /jobs, GET /jobs/:id, DELETE /jobs/:id.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HttpProblem, problemResponses } from '../problems.ts';
import { EvaluationSchema } from '../models/registry.ts';
import { ReadingSchema, readingsToTable } from '../scoring/readings.ts';
import { TimeParam } from '../schemas.ts';
import type { ModelRegistry } from '../models/registry.ts';
import type { RefitJobs, JobRecord } from './jobs.ts';

const JobOut = z.object({
  id: z.string(),
  kind: z.literal('refit'),
  trigger: z.enum(['manual', 'drift', 'schedule']),
  by: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
  phase: z.string(),
  progress: z.number().describe('0..1, by phase (loading, training, shadow-scoring, saving, registering)'),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  baseVersion: z.string().describe('The active version when the job started'),
  request: z.record(z.string(), z.unknown()),
  result: z.object({
    version: z.string(), warmStarted: z.boolean(), bufferSteps: z.number().int(), excludedSteps: z.number().int(),
    trainSteps: z.number().int(), heldOutSteps: z.number().int(), fitSeconds: z.number(), evaluation: EvaluationSchema,
    outcome: z.enum(['promoted', 'candidate']), outcomeReason: z.string(),
  }).nullable(),
  error: z.string().nullable(),
});

const TrainOverrides = z.strictObject({
  maxSteps: z.number().int().min(1).max(100_000).optional(),
  learningRate: z.number().positive().optional(),
  seed: z.number().int().optional(),
  batchSize: z.number().int().min(1).optional(),
  evalEvery: z.number().int().min(1).optional(),
  patience: z.number().int().min(1).optional(),
}).default({});

export interface RefitRoutesOptions {
  jobs: RefitJobs;
  registry: ModelRegistry;
  rateLimit: { max: number; timeWindowMs: number };
  bodyLimit: number;
  defaultWarmStart: boolean;
}

export async function refitRoutes(app: FastifyInstance, opts: RefitRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const out = (j: JobRecord) => j;

  r.post('/refit', {
    bodyLimit: opts.bodyLimit,
    config: { auth: 'operator', rateLimit: { max: opts.rateLimit.max, timeWindow: opts.rateLimit.timeWindowMs } },
    schema: {
      tags: ['refit'],
      summary: 'Start a refit in a worker thread: train a candidate on recent data (alerted steps left out), warm-started from the active model, shadow-score it, promote it only if the rule says so',
      body: z.strictObject({
        source: z.discriminatedUnion('kind', [
          z.strictObject({ kind: z.literal('csv'), path: z.string().min(1), lastSteps: z.number().int().min(10).optional() }),
          z.strictObject({ kind: z.literal('readings'), readings: z.array(ReadingSchema).min(10).max(200_000), lastSteps: z.number().int().min(10).optional() }),
          z.strictObject({ kind: z.literal('stream'), site: z.string().min(1), lastSteps: z.number().int().min(10).optional() }),
        ]).describe('csv: a file under refit.dataDirs; readings: in the request; stream: the site\'s recent steps from the live stream (kafka.stepsTopic; unusable steps left out)'),
        excludeAlerts: z.union([z.boolean(), z.literal('resolved')]).default(true).describe('Leave out steps inside stored alerts\' [startsAt, endsAt] (firing: until now); "resolved": only resolved alerts\' steps (what drift-triggered refits do)'),
        site: z.string().optional().describe('Only this site\'s alerts are left out (default: all sites)'),
        excludeRanges: z.array(z.strictObject({ from: TimeParam, to: TimeParam })).default([]),
        warmStart: z.boolean().optional().describe('Initialise from the active model (default from config)'),
        autoPromote: z.boolean().default(true).describe('Promote when the rule passes; otherwise keep as candidate'),
        train: TrainOverrides,
      }),
      response: { 202: JobOut, ...problemResponses(400, 409, 413, 422) },
    },
  }, async (req, reply) => {
    const b = req.body;
    const det = opts.registry.activeDetector();
    if (!det) throw new HttpProblem(409, 'no model is active to refit');
    const source = b.source.kind === 'readings'
      ? { kind: 'table' as const, table: readingsToTable(b.source.readings, det.features, 'body.source.readings'), lastSteps: b.source.lastSteps }
      : b.source;
    const overrides = Object.fromEntries(Object.entries(b.train).map(([k, v]) => [`train.${k}`, v]));
    const job = opts.jobs.start({
      source, excludeAlerts: b.excludeAlerts, site: b.site, excludeRanges: b.excludeRanges.map((x) => [x.from, x.to]),
      warmStart: b.warmStart ?? opts.defaultWarmStart, autoPromote: b.autoPromote, overrides,
    }, req.principal!.name);
    return reply.code(202).header('location', `/jobs/${job.id}`).send(out(job));
  });

  r.get('/jobs', {
    schema: { tags: ['refit'], summary: 'Refit jobs, newest first', response: { 200: z.object({ items: z.array(JobOut) }), ...problemResponses() } },
  }, async () => ({ items: opts.jobs.list() }));

  r.get('/jobs/:id', {
    schema: { tags: ['refit'], summary: 'A job\'s status, progress and result', params: z.object({ id: z.string() }), response: { 200: JobOut, ...problemResponses(404) } },
  }, async (req) => {
    const j = opts.jobs.get(req.params.id);
    if (!j) throw new HttpProblem(404, `no job ${req.params.id}`);
    return j;
  });

  r.delete('/jobs/:id', {
    config: { auth: 'operator' },
    schema: { tags: ['refit'], summary: 'Cancel a running job (the worker is terminated; the active model is not changed)', params: z.object({ id: z.string() }), response: { 200: JobOut, ...problemResponses(404, 409) } },
  }, async (req) => opts.jobs.cancel(req.params.id));
}
