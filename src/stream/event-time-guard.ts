/**
 * Event time a producer cannot run away with, per site, decided from the message sequence alone
 * (never from the wall clock, so a replay decides exactly as the first run did).
 *
 * A message stamped more than `maxAheadMs` ahead of the newest event time the site has accepted
 * would move the site's watermark so far that every valid reading in between is dropped as late.
 * Such a message is *held* (kept in the site's state, checkpointed with it) as a candidate jump:
 *  - once `jumpConfirmations` messages in a row are held whose times lie within `maxAheadMs` of
 *    the first held one, the jump is real (a site back after an outage, a clock corrected):
 *    the held messages are applied in arrival order and the site continues at the new time;
 *  - a message within range of the site's data before that, or a held candidate that starts a
 *    different cluster, means it was not: the held messages are dead-lettered (`ahead-of-site`).
 * The first message of a site has nothing to compare with and is accepted (the record-timestamp
 * check in messages.ts still bounds it).
 */
import { z } from 'zod';
import type { EventTimeGuardSettings } from './config.ts';
import type { IncomingMessage } from '../adapters/kafka-client.ts';

/** A held message as the checkpoint stores it (value as base64 of the original bytes). */
export const HeldMessageSchema = z.strictObject({
  tsMs: z.number(),
  topic: z.string(),
  partition: z.number().int(),
  offset: z.string(),
  key: z.string().nullable(),
  value: z.string().nullable(),
  timestampMs: z.number(),
  headers: z.record(z.string(), z.string()),
});
export type HeldMessage = z.infer<typeof HeldMessageSchema>;

export function holdMessage(m: IncomingMessage, tsMs: number): HeldMessage {
  const raw = m.rawValue !== undefined ? m.rawValue : m.value === null ? null : Buffer.from(m.value, 'utf8');
  return { tsMs, topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, value: raw === null ? null : raw.toString('base64'), timestampMs: m.timestampMs, headers: m.headers };
}

export function releaseMessage(h: HeldMessage): IncomingMessage {
  const raw = h.value === null ? null : Buffer.from(h.value, 'base64');
  return { topic: h.topic, partition: h.partition, offset: h.offset, key: h.key, value: raw === null ? null : raw.toString('utf8'), rawValue: raw, timestampMs: h.timestampMs, headers: h.headers };
}

export type GuardDecision =
  /** Apply the message now (first dropping `abandoned`, held candidates it disproves). */
  | { action: 'apply'; abandoned: HeldMessage[] }
  /** Held; `abandoned` were held before for a different jump. */
  | { action: 'hold'; abandoned: HeldMessage[] }
  /** The jump is confirmed: apply `release` (the held messages and this one) in order. */
  | { action: 'release'; abandoned: HeldMessage[]; release: HeldMessage[] };

/**
 * Decides about one message of a site. `held` is the site's list of held messages (mutated);
 * `newestMs` the newest event time the site accepted (-Infinity before the first).
 */
export function guardEventTime(s: EventTimeGuardSettings, held: HeldMessage[], newestMs: number, m: IncomingMessage, tsMs: number): GuardDecision {
  if (!Number.isFinite(newestMs) || tsMs <= newestMs + s.maxAheadMs) {
    return { action: 'apply', abandoned: held.splice(0, held.length) };
  }
  const abandoned = held.length && Math.abs(tsMs - held[0].tsMs) > s.maxAheadMs ? held.splice(0, held.length) : [];
  held.push(holdMessage(m, tsMs));
  if (held.length < s.jumpConfirmations) return { action: 'hold', abandoned };
  return { action: 'release', abandoned, release: held.splice(0, held.length) };
}
