// POST/GET/DELETE /subscriptions and their deliveries. Creating one needs `webhooks.createRole`
// (operator by default: a subscription makes the server send requests) and a target that is
// allowed (target.ts); a subscription belongs to the key that created it, and only its owner or
// an admin sees or deletes it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HttpProblem, problemResponses } from '../problems.ts';
import { SubscriptionFilterSchema, type Subscription, type SubscriptionStore } from './store.ts';
import type { WebhookDispatcher } from './dispatcher.ts';
import { AllowList, checkTarget, type Resolver } from './target.ts';
import type { Role } from '../config.ts';

const SubscriptionOut = z.object({
  id: z.string(), url: z.string(), filter: SubscriptionFilterSchema, format: z.enum(['ganf', 'alertmanager']),
  owner: z.string(), createdAt: z.string(),
  deliveries: z.object({ pending: z.number().int(), delivered: z.number().int(), failed: z.number().int(), cancelled: z.number().int() }),
});
const AttemptOut = z.object({ at: z.string(), ok: z.boolean(), httpStatus: z.number().int().nullable(), error: z.string().nullable(), durationMs: z.number() });
const DeliveryOut = z.object({
  id: z.string(), subscriptionId: z.string(), eventSeq: z.number().int(), eventType: z.enum(['alert', 'ack']), alertId: z.string(),
  createdAt: z.string(), status: z.enum(['pending', 'delivered', 'failed', 'cancelled']), attempts: z.array(AttemptOut), nextAttemptAt: z.string().nullable(),
});

export interface SubscriptionRoutesOptions {
  subs: SubscriptionStore;
  dispatcher: WebhookDispatcher;
  allowedHosts: string[];
  publicTargets: boolean;
  createRole: Role;
  resolve?: Resolver;
}

/** An absolute http(s) URL; never throws (zod's url() accepts strings WHATWG URL refuses). */
const WebhookUrl = z.string().max(2048).superRefine((u, ctx) => {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute URL, e.g. https://hooks.example.com/ganf' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be http or https' });
});

export async function subscriptionRoutes(app: FastifyInstance, opts: SubscriptionRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { subs, dispatcher } = opts;

  const view = (s: Subscription): z.infer<typeof SubscriptionOut> => {
    const counts = { pending: 0, delivered: 0, failed: 0, cancelled: 0 };
    for (const d of subs.deliveriesOf(s.id)) counts[d.status]++;
    const { secret: _secret, ...rest } = s;
    return { ...rest, deliveries: counts };
  };
  const owned = (req: FastifyRequest, id: string): Subscription => {
    const s = subs.get(id);
    // Someone else's subscription is reported as absent, not forbidden: ids are not disclosed.
    if (!s || (s.owner !== req.principal!.name && req.principal!.role !== 'admin')) throw new HttpProblem(404, `no subscription ${id}`);
    return s;
  };

  const allow = new AllowList(opts.allowedHosts);
  r.post('/subscriptions', {
    config: { auth: opts.createRole },
    schema: {
      tags: ['subscriptions'], summary: 'Subscribe a webhook URL to alert changes (HMAC-signed, retried with backoff)',
      body: z.strictObject({
        url: WebhookUrl,
        filter: SubscriptionFilterSchema.default({}),
        format: z.enum(['ganf', 'alertmanager']).default('ganf').describe('ganf: {seq,type,at,alert}; alertmanager: Alertmanager webhook payload v4'),
        secret: z.string().min(16).max(256).optional().describe('HMAC key; generated when omitted'),
      }),
      response: { 201: SubscriptionOut.extend({ secret: z.string().describe('Shown only in this response') }), ...problemResponses(400) },
    },
  }, async (req, reply) => {
    const target = await checkTarget(new URL(req.body.url), { allowedHosts: opts.allowedHosts, publicTargets: opts.publicTargets }, allow, opts.resolve);
    if (!target.ok) throw new HttpProblem(400, `webhook target refused: ${target.reason}`, [{ field: 'body.url', message: target.reason }]);
    const s = await subs.create({ ...req.body, owner: req.principal!.name });
    return reply.code(201).send({ ...view(s), secret: s.secret });
  });

  r.get('/subscriptions', {
    schema: {
      tags: ['subscriptions'], summary: 'Your subscriptions (admin: everyone\'s, or ?owner=)',
      querystring: z.object({ owner: z.string().optional() }),
      response: { 200: z.object({ items: z.array(SubscriptionOut) }), ...problemResponses(400) },
    },
  }, async (req) => {
    const p = req.principal!;
    if (req.query.owner !== undefined && req.query.owner !== p.name && p.role !== 'admin') {
      throw new HttpProblem(403, 'only an admin may list other keys\' subscriptions');
    }
    const owner = p.role === 'admin' ? req.query.owner : p.name;
    return { items: subs.list(owner).map(view) };
  });

  r.get('/subscriptions/:id', {
    schema: { tags: ['subscriptions'], summary: 'One subscription', params: z.object({ id: z.string() }), response: { 200: SubscriptionOut, ...problemResponses(404) } },
  }, async (req) => view(owned(req, req.params.id)));

  r.delete('/subscriptions/:id', {
    schema: { tags: ['subscriptions'], summary: 'Unsubscribe (pending deliveries are cancelled)', params: z.object({ id: z.string() }), response: { 204: z.null(), ...problemResponses(404) } },
  }, async (req, reply) => {
    owned(req, req.params.id);
    const cancelled = await subs.remove(req.params.id);
    dispatcher.cancel(cancelled.map((d) => d.id));
    return reply.code(204).send(null);
  });

  r.get('/subscriptions/:id/deliveries', {
    schema: {
      tags: ['subscriptions'], summary: 'Deliveries of a subscription, newest first (failed ones are kept)',
      params: z.object({ id: z.string() }),
      querystring: z.object({ status: z.enum(['pending', 'delivered', 'failed', 'cancelled']).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }),
      response: { 200: z.object({ items: z.array(DeliveryOut) }), ...problemResponses(400, 404) },
    },
  }, async (req) => {
    owned(req, req.params.id);
    const items = subs.deliveriesOf(req.params.id).filter((d) => !req.query.status || d.status === req.query.status).reverse().slice(0, req.query.limit);
    return { items: items.map(({ body: _b, ...d }) => d) };
  });

  r.post('/subscriptions/:id/deliveries/:deliveryId/retry', {
    schema: {
      tags: ['subscriptions'], summary: 'Send a failed delivery again',
      params: z.object({ id: z.string(), deliveryId: z.string() }),
      response: { 202: DeliveryOut, ...problemResponses(404) },
    },
  }, async (req, reply) => {
    owned(req, req.params.id);
    const d = subs.delivery(req.params.deliveryId);
    if (!d || d.subscriptionId !== req.params.id) throw new HttpProblem(404, `no delivery ${req.params.deliveryId}`);
    const { body: _b, ...out } = dispatcher.redeliver(d.id)!;
    return reply.code(202).send(out);
  });
}
