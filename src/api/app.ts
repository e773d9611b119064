// The Fastify application: one plugin per concern, every route with zod request and response
// schemas, an OpenAPI document (/openapi.json) and a docs page (/docs) generated from them.
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import problems from './problems.ts';
import { authPlugin, keyRoutes, type KeyStore } from './auth.ts';
import { alertRoutes } from './alerts/routes.ts';
import { silenceRoutes } from './silences/routes.ts';
import { consoleRoutes } from './console.ts';
import { subscriptionRoutes } from './webhooks/routes.ts';
import { modelRoutes } from './models/routes.ts';
import { scoreRoutes } from './scoring/routes.ts';
import { refitRoutes } from './refit/routes.ts';
import { healthRoutes, type Check } from './health.ts';
import type { ApiConfig } from './config.ts';
import type { ApiMetrics } from './metrics.ts';
import type { AlertStore } from './alerts/store.ts';
import type { SilenceStore } from './silences/store.ts';
import type { SubscriptionStore } from './webhooks/store.ts';
import type { WebhookDispatcher } from './webhooks/dispatcher.ts';
import type { Resolver } from './webhooks/target.ts';
import type { ScoringPool } from './scoring/pool.ts';
import type { ModelRegistry } from './models/registry.ts';
import type { LiveSteps } from './steps/live-steps.ts';
import type { RefitJobs } from './refit/jobs.ts';
import type { ScoreStore } from '../adapters/influx-store.ts';

export interface AppDeps {
  config: ApiConfig;
  keys: KeyStore;
  metrics: ApiMetrics;
  alerts: AlertStore;
  silences: SilenceStore;
  subs: SubscriptionStore;
  dispatcher: WebhookDispatcher;
  registry: ModelRegistry;
  /** The live stream's steps (drift monitors, refit buffer); null without kafka.stepsTopic. */
  live: LiveSteps | null;
  jobs: RefitJobs;
  influx: { store: ScoreStore; measurements: { scores: string; sensorScores: string } } | null;
  checks: Check[];
  /** DNS resolution for webhook targets (default: the system resolver). */
  resolve?: Resolver;
  /** POST /score's worker. */
  scoring: ScoringPool;
}

export interface RouteInfo {
  method: string;
  url: string;
  auth: string;
  hasSchema: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route with its required role (for the auth test and docs). */
    routeTable: RouteInfo[];
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    logger: config.logger,
    bodyLimit: config.bodyLimitBytes,
    // Behind no proxy by default: the socket address is the client.
    trustProxy: false,
    ajv: undefined,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const routeTable: RouteInfo[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) {
      if (m === 'HEAD') continue;
      routeTable.push({ method: m, url: r.url, auth: (r.config as { auth?: string } | undefined)?.auth ?? 'reader', hasSchema: r.schema?.response !== undefined });
    }
  });

  await app.register(problems);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'ganf-stream API',
        version: '1',
        description: 'Alerts, live scores, the learned sensor graph, model versions and online refits of the GANF anomaly detector. Errors are RFC 7807 problem details.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'API key as a bearer token' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(authPlugin, { keys: deps.keys, publicRoutes: config.auth.publicRoutes });
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler', // after auth: limits are per API key
    keyGenerator: (req) => req.principal?.name ?? req.ip,
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    deps.metrics.httpDuration.observe({ method: req.method, route, status: `${Math.floor(reply.statusCode / 100)}xx` }, reply.elapsedTime / 1000);
  });

  app.get('/openapi.json', {
    schema: { tags: ['docs'], summary: 'This OpenAPI document', response: { 200: z.record(z.string(), z.unknown()) } },
  }, async () => app.swagger() as unknown as Record<string, unknown>);

  await app.register(keyRoutes, { keys: deps.keys });
  await app.register(healthRoutes, { metrics: deps.metrics, registry: deps.registry, live: deps.live, checks: deps.checks, startedAt: Date.now() });
  await app.register(alertRoutes, {
    store: deps.alerts, metrics: deps.metrics, heartbeatMs: config.sse.heartbeatMs, maxBufferedBytes: config.sse.maxBufferedBytes,
    silencing: (a) => deps.silences.silencing(a),
  });
  await app.register(silenceRoutes, { silences: deps.silences });
  if (config.ui.enabled) await app.register(consoleRoutes, { dir: config.ui.dir });
  await app.register(subscriptionRoutes, {
    subs: deps.subs, dispatcher: deps.dispatcher, allowedHosts: config.webhooks.allowedHosts, publicTargets: config.webhooks.publicTargets,
    createRole: config.webhooks.createRole, resolve: deps.resolve,
  });
  await app.register(modelRoutes, { registry: deps.registry, metrics: deps.metrics, rateLimits: config.rateLimits });
  await app.register(scoreRoutes, { registry: deps.registry, metrics: deps.metrics, pool: deps.scoring, influx: deps.influx, bodyLimit: config.scoreBodyLimitBytes, rateLimits: config.rateLimits });
  await app.register(refitRoutes, { jobs: deps.jobs, registry: deps.registry, rateLimit: config.rateLimits.refit, bodyLimit: config.scoreBodyLimitBytes, defaultWarmStart: config.refit.warmStart });
  await app.ready();
  return app;
}
