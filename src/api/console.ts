// The operator console (/ui): static files only, built from ui/console by `npm run build:ui`.
// They carry no data: every call the page makes goes to the API routes with the user's key and
// role. These three file routes are the only ones the console opens, declared public here.
import { existsSync } from 'node:fs';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { HttpProblem } from './problems.ts';

export async function consoleRoutes(app: FastifyInstance, opts: { dir: string }): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // serve: false — only reply.sendFile (with its path checks); the routes below are our own so
  // that their auth is declared like every other route's.
  await app.register(fastifyStatic, { root: opts.dir, serve: false });
  const send = (file: string, reply: FastifyReply) => {
    if (!existsSync(opts.dir)) throw new HttpProblem(503, `the console is not built (${opts.dir} is missing): run npm run build:ui`);
    return reply.header('cache-control', 'no-cache').sendFile(file);
  };
  const hide = { hide: true };
  r.get('/ui', { config: { auth: 'public' }, schema: hide }, async (_req, reply) => reply.redirect('/ui/'));
  r.get('/ui/', { config: { auth: 'public' }, schema: hide }, async (_req, reply) => send('index.html', reply));
  r.get('/ui/:file', {
    config: { auth: 'public' },
    schema: { ...hide, params: z.object({ file: z.string().regex(/^[\w-]+\.(js|css|html|map)$/, 'a console asset name') }) },
  }, async (req, reply) => send(req.params.file, reply));
}
