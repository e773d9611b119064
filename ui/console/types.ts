// The API's response shapes, taken from its own zod schemas (type-only imports: nothing of the
// server is bundled), so the console is checked against the routes it calls.
import type { z } from 'zod';
import type { StoredAlertSchema, ChangeEventSchema } from '../../src/api/alerts/routes.ts';
import type { SilenceSchema, MatcherSchema } from '../../src/api/silences/store.ts';
import type { SerializedGraph } from 'graphology-types';

export type Alert = z.infer<typeof StoredAlertSchema>;
export type ChangeEvent = z.infer<typeof ChangeEventSchema>;
export type Silence = z.infer<typeof SilenceSchema>;
export type Matcher = z.input<typeof MatcherSchema>;

export interface AlertPage {
  items: Alert[];
  nextCursor: string | null;
}

export interface GraphResponse {
  version: string;
  graph: SerializedGraph;
  topologicalOrder: string[];
}

export interface Edge {
  source: string;
  target: string;
  weight: number;
}

export interface GraphDiff {
  from: string;
  to: string;
  tolerance: number;
  added: Edge[];
  removed: Edge[];
  reweighted: { source: string; target: string; from: number; to: number; delta: number; relative: number }[];
  reversed: { source: string; target: string }[];
  unchanged: number;
  nodesAdded: string[];
  nodesRemoved: string[];
}

export interface ModelInfo {
  version: string;
  status: 'active' | 'previous' | 'candidate' | 'available';
  createdAt: string;
  sensors: string[];
  edges: number;
  threshold: number;
}

export interface Models {
  active: { version: string; history: string[]; changedAt: string; reason: string; by: string } | null;
  items: ModelInfo[];
}

export interface Job {
  id: string;
  status: string;
  phase: string;
  progress: number;
  trigger?: string;
  createdAt?: string;
  result?: { version?: string; outcome?: string; reason?: string } | null;
  error?: string | null;
}

export interface ScoreStep {
  timestamp: string;
  site: string;
  total: number;
  threshold: number | null;
  alert: boolean | null;
  sensors: Record<string, { nll: number; excess: number | null }>;
}
