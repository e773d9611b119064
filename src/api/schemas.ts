// Schemas shared by several route plugins.
import { z } from 'zod';

/** The largest time a JS Date holds (ms): beyond it nothing can be formatted or compared as a date. */
const MAX_DATE_MS = 8.64e15;

/** A time as ISO 8601 (with offset) or epoch milliseconds; parsed to epoch ms. */
export const TimeParam = z.union([
  z.string().regex(/^\d{1,16}$/).transform(Number),
  z.string().datetime({ offset: true }).transform((s) => Date.parse(s)),
  z.number().int().nonnegative(),
]).refine((ms) => Number.isFinite(ms) && ms <= MAX_DATE_MS, `must be at most ${MAX_DATE_MS} (epoch ms, +275760-09-13)`)
  .describe('ISO 8601 time with offset, or epoch milliseconds');

export const ReadingTime = z.union([z.string().datetime({ offset: true }).transform((s) => Date.parse(s)), z.number().int().nonnegative()]);
