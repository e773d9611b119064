// The data options as plain schemas, with no logic: src/config.ts composes them into the `data`
// section of a config, and the readers (csv.ts, missing.ts, preprocess.ts) validate with them. Kept
// apart so the config modules stay leaves that import no code with behaviour.
import { z } from 'zod';

export const CsvOptionsSchema = z.strictObject({
    delimiter: z.enum([',', ';', '\t']).default(','),
    /** Column holding the time; null = none (row index * intervalMs). Default: auto-detect. */
    timestampColumn: z.string().min(1).nullable().optional(),
    /** 'iso' | 'epoch-ms' | 'epoch-s' | a pattern of yyyy yy MM dd HH mm ss SSS (UTC). Default: auto. */
    timestampFormat: z.string().min(1).optional(),
    /** Spacing of synthetic timestamps when there is no timestamp column. */
    intervalMs: z.number().positive().default(1000),
    /** 0/1 ground truth column; null = none. Default: auto-detect. */
    labelColumn: z.string().min(1).nullable().optional(),
    dropColumns: z.array(z.string()).default([]),
    /** Splits "bus4.vm" into sensor "bus4", feature "vm" (at the last occurrence). */
    featureSeparator: z.string().min(1).optional(),
});

export type CsvOptions = z.input<typeof CsvOptionsSchema>;

export const MissingPolicySchema = z.strictObject({
  /** ffill: last valid value; interpolate: linear between the valid neighbours; error: any gap fails. */
  method: z.enum(['ffill', 'interpolate', 'error']).default('ffill'),
  /** Longest run of consecutive missing steps that may be filled. */
  limit: z.number().int().nonnegative().default(3),
  onLongGap: z.enum(['error', 'drop-rows']).default('error'),
});

export type MissingPolicy = z.input<typeof MissingPolicySchema>;

/**
 * 10× the training range on each side: far enough that a system drifting to a new operating point
 * (a grid after load changes, readings a few ranges past anything in training) is still seen as it
 * is (clipping it would break the sensors' joint consistency the model scores), close enough that
 * a glitch (1e6, a sign or unit error) is held off the encoder state.
 */
export const DEFAULT_PLAUSIBLE_MARGIN = 10;
