// Alertmanager-style silences: label matchers, a time window, who created it and why. A silenced
// alert is still stored and listed (marked silenced); only its webhook notifications are held
// back. Kept in one JSON file replaced atomically on every change; expired silences stay listed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { writeFileAtomic } from '../../adapters/fs-atomic.ts';
import type { Alert } from '../../scoring/alert.ts';
import { alertSensors } from '../alerts/store.ts';

export const MatcherSchema = z.strictObject({
  name: z.string().min(1).max(128).describe('A label (site, severity, alertname, model_version, …) or "sensor": any of the alert\'s top sensors'),
  value: z.string().max(1024),
  isRegex: z.boolean().default(false).describe('value is a regular expression anchored at both ends, as in Alertmanager'),
  isEqual: z.boolean().default(true).describe('false negates the matcher (!= or !~)'),
});
export type Matcher = z.infer<typeof MatcherSchema>;

export const SilenceSchema = z.object({
  id: z.string(),
  matchers: z.array(MatcherSchema),
  startsAt: z.string(),
  endsAt: z.string(),
  createdBy: z.string(),
  comment: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  status: z.object({ state: z.enum(['pending', 'active', 'expired']) }),
});
export type Silence = z.infer<typeof SilenceSchema>;
type StoredSilence = Omit<Silence, 'status'>;

const StoredSchema = z.array(SilenceSchema.omit({ status: true }));

/** A label's values for matching: "sensor" stands for every top sensor of the alert. */
function values(a: Alert, name: string): string[] {
  if (name === 'sensor') return alertSensors(a);
  const v = (a.labels as Record<string, string | undefined>)[name];
  return v === undefined ? [''] : [v];
}

function matcherTest(m: Matcher): (v: string) => boolean {
  if (!m.isRegex) return (v) => v === m.value;
  const re = new RegExp(`^(?:${m.value})$`);
  return (v) => re.test(v);
}

export function matches(matchers: Matcher[], a: Alert): boolean {
  return matchers.every((m) => {
    const test = matcherTest(m);
    const hit = values(a, m.name).some(test);
    return m.isEqual ? hit : !hit;
  });
}

export class SilenceStore {
  private readonly file: string;
  private items: StoredSilence[] = [];
  private readonly now: () => Date;

  constructor(dir: string, opts: { now?: () => Date } = {}) {
    this.file = path.join(dir, 'silences.json');
    this.now = opts.now ?? (() => new Date());
    if (existsSync(this.file)) this.items = StoredSchema.parse(JSON.parse(readFileSync(this.file, 'utf8')));
  }

  private state(s: StoredSilence, at = this.now().getTime()): Silence['status']['state'] {
    if (Date.parse(s.endsAt) <= at) return 'expired';
    return Date.parse(s.startsAt) > at ? 'pending' : 'active';
  }

  private view(s: StoredSilence): Silence {
    return { ...s, status: { state: this.state(s) } };
  }

  list(): Silence[] {
    return this.items.map((s) => this.view(s)).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  get(id: string): Silence | undefined {
    const s = this.items.find((x) => x.id === id);
    return s && this.view(s);
  }

  async create(input: { matchers: Matcher[]; startsAt: string; endsAt: string; comment: string }, by: string): Promise<Silence> {
    const at = this.now().toISOString();
    const s: StoredSilence = { id: randomUUID(), matchers: input.matchers, startsAt: input.startsAt, endsAt: input.endsAt, createdBy: by, comment: input.comment, createdAt: at, updatedAt: at };
    this.items.push(s);
    await this.persist();
    return this.view(s);
  }

  /** Ends a silence now (Alertmanager's expire); an expired one is returned unchanged. */
  async expire(id: string): Promise<Silence | undefined> {
    const s = this.items.find((x) => x.id === id);
    if (!s) return undefined;
    if (this.state(s) !== 'expired') {
      const at = this.now().toISOString();
      s.endsAt = at < s.startsAt ? s.startsAt : at;
      s.updatedAt = at;
      await this.persist();
    }
    return this.view(s);
  }

  /** Ids of the silences active now that match the alert. */
  silencing(a: Alert, at = this.now().getTime()): string[] {
    return this.items.filter((s) => this.state(s, at) === 'active' && matches(s.matchers, a)).map((s) => s.id);
  }

  private async persist(): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(this.items, null, 1));
  }
}
