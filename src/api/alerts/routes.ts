// GET /alerts (filters + cursor pagination), GET /alerts/:id, POST /alerts/:id/ack, and
// GET /alerts/stream: Server-Sent Events of every alert change, `id:` = the change's sequence
// number, heartbeats as SSE comments, and replay from Last-Event-ID so a reconnecting client
// misses nothing.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AlertFieldsSchema, AlertStatusSchema, SeveritySchema } from '../../scoring/alert.ts';
import { alertSensors, CursorError, type AlertChange, type AlertStore, type StoredAlert } from './store.ts';
import { HttpProblem, problemResponses } from '../problems.ts';
import type { ApiMetrics } from '../metrics.ts';
import { TimeParam } from '../schemas.ts';

export const AckSchema = z.object({ by: z.string(), at: z.string(), comment: z.string().nullable() });
export const StoredAlertSchema = AlertFieldsSchema.extend({
  id: z.string().describe('The alert instance: fingerprint and start (epoch ms)'),
  receivedAt: z.string(),
  updatedAt: z.string(),
  seq: z.number().int().describe('Sequence number of the latest change (the SSE event id)'),
  ack: AckSchema.nullable(),
  acks: z.array(AckSchema),
  falsePositive: AckSchema.nullable().describe('Who marked the alert a false positive, when and why (null: not marked)'),
  silencedBy: z.array(z.string()).describe('Ids of the active silences matching the alert now (its webhooks are held back)'),
});

const FilterSchema = z.object({
  from: TimeParam.optional().describe('Alerts active at or after this time (ISO 8601 or epoch ms)'),
  to: TimeParam.optional().describe('Alerts that started before this time'),
  site: z.string().min(1).optional(),
  sensor: z.string().min(1).optional().describe('Alerts about this sensor (its sensor label or among its top sensors)'),
  status: AlertStatusSchema.optional(),
  severity: SeveritySchema.optional(),
});

export const ChangeEventSchema = z.object({ seq: z.number().int(), type: z.enum(['alert', 'ack', 'false-positive']), at: z.string(), alert: StoredAlertSchema });

export interface AlertRoutesOptions {
  store: AlertStore;
  metrics: ApiMetrics;
  heartbeatMs: number;
  maxBufferedBytes: number;
  /** Ids of the active silences matching an alert (none without a silence store). */
  silencing?: (a: StoredAlert) => string[];
}

function matchesFilter(a: StoredAlert, f: z.infer<typeof FilterSchema>): boolean {
  return (f.site === undefined || a.labels.site === f.site) &&
    (f.status === undefined || a.status === f.status) &&
    (f.severity === undefined || a.labels.severity === f.severity) &&
    (f.sensor === undefined || alertSensors(a).includes(f.sensor)) &&
    (f.to === undefined || Date.parse(a.startsAt) < f.to) &&
    (f.from === undefined || a.endsAt === null || Date.parse(a.endsAt) >= f.from);
}

export async function alertRoutes(app: FastifyInstance, opts: AlertRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { store, metrics } = opts;
  // Silences change with time, so whether an alert is silenced is worked out when it is served.
  const view = (a: StoredAlert) => ({ ...a, silencedBy: opts.silencing?.(a) ?? [] });
  const open = new Set<() => void>();
  app.addHook('onClose', async () => {
    for (const end of [...open]) end();
  });

  r.get('/alerts', {
    schema: {
      tags: ['alerts'], summary: 'List alerts, newest first, with filters and cursor pagination',
      querystring: FilterSchema.extend({
        limit: z.coerce.number().int().min(1).max(500).default(50),
        cursor: z.string().min(1).optional().describe('nextCursor of the previous page'),
      }).refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, { message: 'from must be before to', path: ['from'] }),
      response: { 200: z.object({ items: z.array(StoredAlertSchema), nextCursor: z.string().nullable() }), ...problemResponses(400) },
    },
  }, async (req) => {
    try {
      const page = store.query(req.query);
      return { ...page, items: page.items.map(view) };
    } catch (err) {
      if (err instanceof CursorError) throw new HttpProblem(400, err.message, [{ field: 'querystring.cursor', message: err.message }]);
      throw err;
    }
  });

  r.get('/alerts/stream', {
    schema: {
      tags: ['alerts'],
      summary: 'Server-Sent Events of alert changes (event: alert | ack; id = change sequence number). Send Last-Event-ID (or ?lastEventId=) to replay what was missed.',
      querystring: FilterSchema.extend({ lastEventId: z.coerce.number().int().min(0).optional() }),
      headers: z.object({ 'last-event-id': z.string().regex(/^\d+$/).optional() }).passthrough(),
      response: { 200: z.string().describe('text/event-stream'), ...problemResponses(400) },
    },
  }, async (req, reply) => {
    const q = req.query;
    const header = req.headers['last-event-id'];
    const after = header !== undefined ? Number(header) : (q.lastEventId ?? store.lastSeq());
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    let closed = false;
    const send = (c: AlertChange): void => {
      if (closed || !matchesFilter(c.alert, q)) return;
      res.write(`id: ${c.seq}\nevent: ${c.type}\ndata: ${JSON.stringify({ ...c, alert: view(c.alert) })}\n\n`);
      // A client that cannot keep up is dropped; it comes back with Last-Event-ID and is replayed.
      if (res.writableLength > opts.maxBufferedBytes) res.destroy();
    };
    // Replay and subscribe in the same tick: store changes are synchronous, so nothing falls between.
    for (const c of store.changesSince(after)) send(c);
    const off = store.onChange(send);
    metrics.sseClients.inc();
    const beat = setInterval(() => res.write(`: heartbeat ${new Date().toISOString()}\n\n`), opts.heartbeatMs);
    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      off();
      clearInterval(beat);
      metrics.sseClients.dec();
    };
    const end = (): void => {
      cleanup();
      res.end();
    };
    open.add(end);
    res.on('close', () => {
      open.delete(end);
      cleanup();
    });
    res.on('error', cleanup);
  });

  r.get('/alerts/:id', {
    schema: {
      tags: ['alerts'], summary: 'One alert with its acknowledgements',
      params: z.object({ id: z.string().min(1) }),
      response: { 200: StoredAlertSchema, ...problemResponses(404) },
    },
  }, async (req) => {
    const a = store.get(req.params.id);
    if (!a) throw new HttpProblem(404, `no alert ${req.params.id}`);
    return view(a);
  });

  r.post('/alerts/:id/ack', {
    config: { auth: 'operator' },
    schema: {
      tags: ['alerts'], summary: 'Acknowledge an alert (who = the API key, when = now)',
      params: z.object({ id: z.string().min(1) }),
      body: z.strictObject({ comment: z.string().max(2000).optional() }).nullish(),
      response: { 200: StoredAlertSchema, ...problemResponses(400, 404) },
    },
  }, async (req) => {
    const c = store.ack(req.params.id, req.principal!.name, req.body?.comment ?? null);
    if (!c) throw new HttpProblem(404, `no alert ${req.params.id}`);
    return view(c.alert);
  });

  r.post('/alerts/:id/false-positive', {
    config: { auth: 'operator' },
    schema: {
      tags: ['alerts'],
      summary: 'Mark an alert a false positive (kept with the alert; refits then keep its period as normal training data). falsePositive: false unmarks it.',
      params: z.object({ id: z.string().min(1) }),
      body: z.strictObject({ comment: z.string().max(2000).optional(), falsePositive: z.boolean().default(true) }).nullish(),
      response: { 200: StoredAlertSchema, ...problemResponses(400, 404) },
    },
  }, async (req) => {
    const c = store.markFalsePositive(req.params.id, req.principal!.name, req.body?.comment ?? null, req.body?.falsePositive ?? true);
    if (!c) throw new HttpProblem(404, `no alert ${req.params.id}`);
    return view(c.alert);
  });
}
