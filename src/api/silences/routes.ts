// GET /silences (reader), POST /silences and DELETE /silences/:id (operator): Alertmanager-style
// silences. The creator is the API key's name, not a client-supplied string.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HttpProblem, problemResponses } from '../problems.ts';
import { TimeParam } from '../schemas.ts';
import { MatcherSchema, SilenceSchema, type SilenceStore } from './store.ts';

export async function silenceRoutes(app: FastifyInstance, opts: { silences: SilenceStore }): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { silences } = opts;

  r.get('/silences', {
    schema: {
      tags: ['silences'], summary: 'Silences, newest first (pending, active and expired)',
      querystring: z.object({ state: z.enum(['pending', 'active', 'expired']).optional() }),
      response: { 200: z.object({ items: z.array(SilenceSchema) }), ...problemResponses(400) },
    },
  }, async (req) => ({ items: silences.list().filter((s) => !req.query.state || s.status.state === req.query.state) }));

  r.post('/silences', {
    config: { auth: 'operator' },
    schema: {
      tags: ['silences'], summary: 'Silence matching alerts for a period: still stored and listed, not pushed to webhooks',
      body: z.strictObject({
        matchers: z.array(MatcherSchema).min(1).max(20),
        startsAt: TimeParam.optional().describe('Default: now'),
        endsAt: TimeParam,
        comment: z.string().min(1).max(2000),
      }),
      response: { 201: SilenceSchema, ...problemResponses(400) },
    },
  }, async (req, reply) => {
    const b = req.body;
    const startsAt = b.startsAt ?? Date.now();
    if (b.endsAt <= startsAt) throw new HttpProblem(400, 'endsAt must be after startsAt', [{ field: 'body.endsAt', message: 'not after startsAt' }]);
    for (const [i, m] of b.matchers.entries()) {
      if (!m.isRegex) continue;
      try {
        new RegExp(m.value);
      } catch (err) {
        throw new HttpProblem(400, `matcher ${i}: ${(err as Error).message}`, [{ field: `body.matchers.${i}.value`, message: 'not a valid regular expression' }]);
      }
    }
    const s = await silences.create({ matchers: b.matchers, startsAt: new Date(startsAt).toISOString(), endsAt: new Date(b.endsAt).toISOString(), comment: b.comment }, req.principal!.name);
    return reply.code(201).send(s);
  });

  r.delete('/silences/:id', {
    config: { auth: 'operator' },
    schema: {
      tags: ['silences'], summary: 'Expire a silence now (kept in the list as expired)',
      params: z.object({ id: z.string().min(1) }),
      response: { 200: SilenceSchema, ...problemResponses(404) },
    },
  }, async (req) => {
    const s = await silences.expire(req.params.id);
    if (!s) throw new HttpProblem(404, `no silence ${req.params.id}`);
    return s;
  });
}
