// GET /health (liveness, public), GET /ready (broker, database, model loaded), GET /metrics
// (Prometheus text), GET /drift (the drift monitors' state).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiMetrics } from './metrics.ts';
import type { ModelRegistry } from './models/registry.ts';
import type { LiveSteps } from './steps/live-steps.ts';
import { HttpProblem, problemResponses } from './problems.ts';

export interface Check {
  name: string;
  check: () => Promise<string>;
}

export interface HealthRoutesOptions {
  metrics: ApiMetrics;
  registry: ModelRegistry;
  live: LiveSteps | null;
  /** Broker and database checks (absent when not configured). */
  checks: Check[];
  startedAt: number;
}

const CheckOut = z.object({ name: z.string(), ok: z.boolean(), detail: z.string(), ms: z.number() });

export const DriftOut = z.object({
  site: z.string(),
  modelVersion: z.string(),
  observed: z.number().int(),
  window: z.number().int(),
  drifting: z.boolean(),
  since: z.string().nullable(),
  ks: z.object({ statistic: z.number().nullable(), pValue: z.number().nullable(), autocorrelation: z.number().nullable().describe('lag-1 autocorrelation of the window (diagnostic: high values make the p-value optimistic)'), alpha: z.number(), drifting: z.boolean() }),
  pageHinkley: z.object({ statistic: z.number(), lambda: z.number(), delta: z.number(), drifting: z.boolean() }),
  inputs: z.array(z.object({ sensor: z.string(), meanShiftSd: z.number(), drifting: z.boolean() })),
  inputThresholdSd: z.number(),
});

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms); })]).finally(() => clearTimeout(timer));
}

export async function healthRoutes(app: FastifyInstance, opts: HealthRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.get('/health', {
    config: { auth: 'public' },
    schema: { tags: ['health'], summary: 'Liveness: the process serves requests', response: { 200: z.object({ status: z.literal('ok'), uptimeSeconds: z.number() }) } },
  }, async () => ({ status: 'ok' as const, uptimeSeconds: Math.round((Date.now() - opts.startedAt) / 1000) }));

  r.get('/ready', {
    schema: {
      tags: ['health'], summary: 'Readiness: broker and database reachable, a model loaded (503 otherwise)',
      response: { 200: z.object({ ready: z.boolean(), checks: z.array(CheckOut) }), 503: z.object({ ready: z.boolean(), checks: z.array(CheckOut) }), ...problemResponses() },
    },
  }, async (_req, reply) => {
    const model = async (): Promise<string> => {
      const v = opts.registry.activeVersion();
      if (!v || !opts.registry.activeDetector()) throw new Error('no model is active');
      return `model ${v} loaded`;
    };
    const all: Check[] = [...opts.checks, { name: 'model', check: model }];
    const checks = await Promise.all(all.map(async (c) => {
      const t = performance.now();
      try {
        const detail = await withTimeout(c.check(), 3000);
        return { name: c.name, ok: true, detail, ms: Math.round(performance.now() - t) };
      } catch (err) {
        return { name: c.name, ok: false, detail: (err as Error).message, ms: Math.round(performance.now() - t) };
      }
    }));
    const ready = checks.every((c) => c.ok);
    return reply.code(ready ? 200 : 503).send({ ready, checks });
  });

  r.get('/metrics', {
    schema: { tags: ['health'], summary: 'Prometheus metrics (text format 0.0.4)', response: { 200: z.string(), ...problemResponses() } },
  }, async (_req, reply) => {
    const text = await opts.metrics.render();
    return reply.type(opts.metrics.contentType).serializer((s: string) => s).send(text);
  });

  r.get('/drift', {
    schema: {
      tags: ['drift'], summary: 'Drift monitors on the live score stream (the steps topic) and its inputs, per site',
      querystring: z.object({ site: z.string().optional().describe('Default: the site that drifted first, else the first site seen') }),
      response: { 200: DriftOut, ...problemResponses(503) },
    },
  }, async (req) => {
    const d = opts.live?.drift(req.query.site);
    if (!d) throw new HttpProblem(503, req.query.site ? `no drift monitor for site ${req.query.site} (no usable step of the active version from it yet)` : 'no live stream steps have arrived (no drift monitor)');
    return d;
  });
}
