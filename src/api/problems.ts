// One error shape for every failure: RFC 7807 problem details (application/problem+json), with
// `errors[].field` naming each invalid input (e.g. "querystring.limit", "body.readings.3.timestamp").
import fp from 'fastify-plugin';
import { z } from 'zod';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { DataError } from '../data/table.ts';

export const ProblemSchema = z.object({
  type: z.string().describe('URI reference naming the problem type, e.g. /problems/validation-error'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string().describe('The request path'),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
}).describe('RFC 7807 problem details');
export type Problem = z.infer<typeof ProblemSchema>;

const TITLES: Record<number, [string, string]> = {
  400: ['validation-error', 'Invalid request'],
  401: ['unauthorized', 'Missing or invalid API key'],
  403: ['forbidden', 'Role too low for this route'],
  404: ['not-found', 'Not found'],
  405: ['method-not-allowed', 'Method not allowed'],
  406: ['not-acceptable', 'Not acceptable'],
  409: ['conflict', 'Conflict'],
  413: ['payload-too-large', 'Request body too large'],
  415: ['unsupported-media-type', 'Unsupported media type'],
  422: ['unprocessable-data', 'The data cannot be processed'],
  429: ['rate-limited', 'Too many requests'],
  500: ['internal', 'Internal server error'],
  503: ['unavailable', 'Service unavailable'],
};

/** An error that becomes a problem response with this status (and optional field errors). */
export class HttpProblem extends Error {
  constructor(
    readonly statusCode: number,
    detail: string,
    readonly errors?: { field: string; message: string }[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

export function problem(status: number, detail: string, instance: string, errors?: Problem['errors']): Problem {
  const [slug, title] = TITLES[status] ?? (status >= 500 ? TITLES[500] : TITLES[400]);
  return { type: `/problems/${slug}`, title, status, detail, instance, ...(errors && errors.length ? { errors } : {}) };
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, status: number, detail: string, errors?: Problem['errors']): FastifyReply {
  return reply.code(status).type('application/problem+json').send(problem(status, detail, request.url.split('?')[0], errors));
}

function validationFields(err: FastifyError): { field: string; message: string }[] {
  const ctx = (err as { validationContext?: string }).validationContext ?? 'request';
  if (hasZodFastifySchemaValidationErrors(err)) {
    return err.validation.map((v) => {
      const p = v.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
      return { field: p ? `${ctx}.${p}` : ctx, message: v.message ?? 'invalid' };
    });
  }
  return (err.validation ?? []).map((v) => ({
    field: `${ctx}${(v as { instancePath?: string }).instancePath?.replace(/\//g, '.') ?? ''}`,
    message: v.message ?? 'invalid',
  }));
}

async function problems(app: FastifyInstance): Promise<void> {
  app.setNotFoundHandler((request, reply) => {
    sendProblem(reply, request, 404, `no route ${request.method} ${request.url.split('?')[0]}`);
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof HttpProblem) {
      if (err.headers) reply.headers(err.headers);
      return sendProblem(reply, request, err.statusCode, err.message, err.errors);
    }
    if (err.validation) {
      const errors = validationFields(err);
      return sendProblem(reply, request, 400, `invalid ${errors.map((e) => e.field).join(', ')}: ${errors.map((e) => e.message).join('; ')}`, errors);
    }
    if (err instanceof DataError) {
      const field = err.field ? [{ field: err.field, message: err.reason }] : undefined;
      return sendProblem(reply, request, 422, err.message, field);
    }
    if (isResponseSerializationError(err)) {
      request.log.error({ err }, 'response does not match its schema');
      return sendProblem(reply, request, 500, 'the response did not match its schema');
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'request failed');
      return sendProblem(reply, request, status, status === 500 ? 'internal error' : err.message);
    }
    // Fastify's own 4xx (body too large, bad JSON, unsupported media type) and plugin errors (rate limit).
    const errors = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? [{ field: 'body', message: err.message }] : undefined;
    return sendProblem(reply, request, status, err.message, errors);
  });
}

export default fp(problems, { name: 'problems' });

/** Response schemas for the error statuses a route can answer with. */
export function problemResponses(...statuses: number[]): Record<number, typeof ProblemSchema> {
  const out: Record<number, typeof ProblemSchema> = {};
  for (const s of [401, 403, 429, ...statuses]) out[s] = ProblemSchema;
  return out;
}
