// Model versions (GET /models, GET /models/:version, POST /models/:version/promote,
// POST /models/rollback) and the learned graph (GET /graph, GET /graph/diff).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { toDot, toGexf } from '../../dag-learning/graph-export.ts';
import { graphToJSON, topologicalOrder } from '../../dag-learning/extract.ts';
import { HttpProblem, problemResponses } from '../problems.ts';
import type { ApiMetrics } from '../metrics.ts';
import { EvaluationSchema, VersionMetaSchema, type ModelRegistry } from './registry.ts';
import { diffGraphs } from './graph-diff.ts';

const VersionParam = z.string().regex(/^[\w.-]{1,128}$/, 'letters, digits, _ . - only');

const VersionInfoOut = z.object({
  version: z.string(),
  status: z.enum(['active', 'previous', 'candidate', 'available']),
  createdAt: z.string(),
  sensors: z.array(z.string()),
  features: z.array(z.string()),
  edges: z.number().int(),
  threshold: z.number(),
  metrics: z.record(z.string(), z.unknown()),
  dataFingerprint: z.string(),
  meta: VersionMetaSchema.nullable(),
});
const PointerOut = z.object({ version: z.string(), history: z.array(z.string()), changedAt: z.string(), reason: z.string(), by: z.string() });

const GraphJson = z.object({
  version: z.string(),
  graph: z.object({
    attributes: z.record(z.string(), z.unknown()),
    options: z.record(z.string(), z.unknown()),
    nodes: z.array(z.object({ key: z.string(), attributes: z.object({ index: z.number().int() }).passthrough() })),
    edges: z.array(z.object({ key: z.string().optional(), source: z.string(), target: z.string(), attributes: z.object({ weight: z.number() }).passthrough() })),
  }).describe('graphology serialisation (Graph#export)'),
  topologicalOrder: z.array(z.string()),
});

const EdgeOut = z.object({ source: z.string(), target: z.string(), weight: z.number() });

export interface ModelRoutesOptions {
  registry: ModelRegistry;
  metrics: ApiMetrics;
  rateLimits: { graph: { max: number; timeWindowMs: number }; models: { max: number; timeWindowMs: number } };
}

export async function modelRoutes(app: FastifyInstance, opts: ModelRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { registry, metrics } = opts;
  const rl = (x: { max: number; timeWindowMs: number }) => ({ max: x.max, timeWindow: x.timeWindowMs });

  r.get('/models', {
    schema: { tags: ['models'], summary: 'Model versions, newest first, with the active pointer', response: { 200: z.object({ active: PointerOut.nullable(), items: z.array(VersionInfoOut) }), ...problemResponses() } },
  }, async () => ({ active: registry.activePointer(), items: await registry.list() }));

  r.get('/models/:version', {
    schema: { tags: ['models'], summary: 'One model version (manifest summary, origin, shadow evaluation)', params: z.object({ version: VersionParam }), response: { 200: VersionInfoOut, ...problemResponses(400, 404) } },
  }, async (req) => registry.info(req.params.version));

  r.post('/models/:version/promote', {
    config: { auth: 'operator', rateLimit: rl(opts.rateLimits.models) },
    schema: {
      tags: ['models'], summary: 'Make a version active (atomic pointer swap; `ganf serve` following the registry hands its sites over at its next batches without losing or repeating a step)',
      params: z.object({ version: VersionParam }),
      response: { 200: PointerOut, ...problemResponses(400, 404, 409, 422) },
    },
  }, async (req) => {
    const p = await registry.promote(req.params.version, { by: req.principal!.name });
    metrics.modelSwaps.inc({ reason: 'promote' });
    return p;
  });

  r.post('/models/rollback', {
    config: { auth: 'operator', rateLimit: rl(opts.rateLimits.models) },
    schema: { tags: ['models'], summary: 'Re-activate the previous version', response: { 200: PointerOut, ...problemResponses(409, 422) } },
  }, async (req) => {
    const p = await registry.rollback({ by: req.principal!.name });
    metrics.modelSwaps.inc({ reason: 'rollback' });
    return p;
  });

  r.get('/graph', {
    config: { rateLimit: rl(opts.rateLimits.graph) },
    schema: {
      tags: ['graph'], summary: 'The learned DAG of the active model (or ?version=): graphology JSON with topological order, or GEXF / DOT',
      querystring: z.object({ version: VersionParam.optional(), format: z.enum(['json', 'gexf', 'dot']).default('json') }),
      response: { 200: GraphJson.or(z.string()), ...problemResponses(400, 404, 503) },
    },
  }, async (req, reply) => {
    const version = req.query.version ?? registry.activeVersion();
    if (!version) throw new HttpProblem(503, 'no model is active');
    const g = await registry.graph(version);
    if (req.query.format === 'dot') return reply.type('text/vnd.graphviz; charset=utf-8').serializer((s: string) => s).send(toDot(g, version));
    if (req.query.format === 'gexf') return reply.type('application/gexf+xml; charset=utf-8').serializer((s: string) => s).send(toGexf(g));
    return { version, graph: graphToJSON(g) as z.infer<typeof GraphJson>['graph'], topologicalOrder: topologicalOrder(g) };
  });

  r.get('/graph/diff', {
    config: { rateLimit: rl(opts.rateLimits.graph) },
    schema: {
      tags: ['graph'], summary: 'How the DAG changed between two versions: edges added, removed, reweighted',
      querystring: z.object({
        from: VersionParam,
        to: VersionParam.optional().describe('Default: the active version'),
        tolerance: z.coerce.number().min(0).max(10).default(0.05).describe('Relative weight change below which an edge counts as unchanged'),
      }),
      response: {
        200: z.object({
          from: z.string(), to: z.string(), tolerance: z.number(),
          added: z.array(EdgeOut), removed: z.array(EdgeOut),
          reweighted: z.array(z.object({ source: z.string(), target: z.string(), from: z.number(), to: z.number(), delta: z.number(), relative: z.number() })),
          reversed: z.array(z.object({ source: z.string(), target: z.string() })),
          unchanged: z.number().int(), nodesAdded: z.array(z.string()), nodesRemoved: z.array(z.string()),
        }),
        ...problemResponses(400, 404, 503),
      },
    },
  }, async (req) => {
    const to = req.query.to ?? registry.activeVersion();
    if (!to) throw new HttpProblem(503, 'no model is active; give ?to=');
    const [a, b] = await Promise.all([registry.graph(req.query.from), registry.graph(to)]);
    return { from: req.query.from, to, tolerance: req.query.tolerance, ...diffGraphs(a, b, req.query.tolerance) };
  });
}

export { EvaluationSchema };
