// POST /score's request and response shapes, shared by the route (OpenAPI) and the scoring worker,
// which parses and validates the body itself so that none of that work runs on the event loop.
import { z } from 'zod';
import { ReadingSchema } from './readings.ts';

export const ScoreBodySchema = z.strictObject({
  readings: z.array(ReadingSchema).min(1).max(20_000),
  warmStart: z.boolean().default(false).describe('The readings directly follow the model\'s training data: use its tail as context'),
  top: z.number().int().min(0).max(20).default(3).describe('Top sensors per step'),
});

const ContributionOut = z.object({ sensor: z.string(), excess: z.number(), nll: z.number(), parents: z.array(z.string()) });

export const ScoreResponseSchema = z.object({
  modelVersion: z.string(),
  threshold: z.number(),
  steps: z.array(z.object({ timestamp: z.string(), score: z.number(), alert: z.boolean(), top: z.array(ContributionOut) })),
  missing: z.object({ filled: z.record(z.string(), z.number()), droppedRows: z.number().int() }),
});

/** Zod issues as the API's problem fields ("body.readings.3.timestamp"), like the route validator names them. */
export function bodyIssues(err: z.ZodError): Array<{ field: string; message: string }> {
  return err.issues.slice(0, 20).map((i) => ({ field: ['body', ...i.path.map(String)].join('.'), message: i.message }));
}
