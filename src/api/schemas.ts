// Schemas shared by several route plugins.
import { z } from 'zod';

/** A time as ISO 8601 (with offset) or epoch milliseconds; parsed to epoch ms. */
export const TimeParam = z.union([
  z.string().regex(/^\d{1,16}$/).transform(Number),
  z.string().datetime({ offset: true }).transform((s) => Date.parse(s)),
  z.number().int().nonnegative(),
]).describe('ISO 8601 time with offset, or epoch milliseconds');

export const ReadingTime = z.union([z.string().datetime({ offset: true }).transform((s) => Date.parse(s)), z.number().int().nonnegative()]);
