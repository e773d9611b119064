/**
 * The steps topic: one record per scored step, written by `ganf serve` in the same Kafka
 * transaction as the batch's alerts and checkpoint (so a read_committed consumer sees every step
 * exactly once, in step order per site), read by the API's drift monitors and refit buffer.
 * Key = site. `values` are the step's aligned raw readings in the scoring model's sensor (and
 * feature) order, the sensors named by that model version's manifest.
 */
import { z } from 'zod';
import type { OutgoingMessage } from '../adapters/kafka-client.ts';
import { messageKey } from './messages.ts';

export const StepRecordSchema = z.strictObject({
  v: z.literal(1),
  site: z.string().min(1),
  tsMs: z.number().int(),
  modelVersion: z.string().min(1),
  score: z.number(),
  exceed: z.boolean(),
  /** False for degraded steps and warm-up: not used for alerting (nor for drift and refits). */
  usable: z.boolean(),
  degraded: z.boolean(),
  values: z.array(z.number()),
});
export type StepRecord = z.infer<typeof StepRecordSchema>;

/** Topic-level configs of the steps topic: a week of history, time-based retention. */
export const STEPS_TOPIC_CONFIGS: Record<string, string> = {
  'cleanup.policy': 'delete',
  'retention.ms': String(7 * 86_400_000),
};

export function stepRecordMessage(r: StepRecord): OutgoingMessage {
  // Record time stays the producer's clock: retention must count from when the step was scored, not from its (possibly old) event time.
  return { key: messageKey(r.site), value: JSON.stringify(r) };
}

/** A record's value parsed and validated; errors name the field. */
export function parseStepRecord(value: string | null): StepRecord {
  if (value === null) throw new Error('step record: empty value');
  const r = StepRecordSchema.safeParse(JSON.parse(value));
  if (!r.success) throw new Error(`step record: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}
