// The import graph of src/ follows the layering the README's "Source layout" describes. Every
// relative import (static, `export ... from`, dynamic, type-only) counts: a type import is still a
// dependency a reader has to follow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(import.meta.dirname, '..');

/** Repo-relative path (posix) of every .ts file under src/. */
function sourceFiles(dir = 'src'): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []);
}

/** file -> what it imports: repo-relative paths for relative specifiers, the bare name otherwise. */
export function importGraph(files: string[], read: (file: string) => string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const specs = ts.preProcessFile(read(file), true, true).importedFiles.map((f) => f.fileName);
    graph.set(file, specs.map((s) => (s.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), s)) : s)));
  }
  return graph;
}

const under = (...dirs: string[]) => (target: string) => dirs.some((d) => target === d || target.startsWith(`${d}/`));

/** Modules that talk to the outside world; the maths and the data layer use none of them. */
const IO = new Set(['fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'node:net', 'node:http', 'node:https', 'node:child_process', 'node:dgram', 'kafkajs']);
const isIo = (target: string) => IO.has(target) || under('src/adapters')(target);

/**
 * Config modules and the schema-only modules they compose: they import packages (zod, node:) and
 * each other only, so reading a setting never loads code with behaviour.
 */
const LEAVES = new Set([
  'src/config.ts', 'src/stream/config.ts', 'src/api/config.ts',
  'src/data/options.ts', 'src/scoring/alert-rule.ts',
]);

interface Rule {
  name: string;
  applies: (file: string) => boolean;
  forbidden: (target: string) => boolean;
}

export const RULES: Rule[] = [
  {
    name: 'the maths (flow, dag-learning) imports no scoring, stream, API, CLI, detector or I/O',
    applies: under('src/flow', 'src/dag-learning'),
    forbidden: (t) => under('src/scoring', 'src/stream', 'src/api', 'src/cli', 'src/detector.ts', 'src/report')(t) || isIo(t),
  },
  {
    name: 'the data layer (src/data) is pure: no I/O, nothing above it',
    applies: under('src/data'),
    forbidden: (t) => under('src/flow', 'src/dag-learning', 'src/scoring', 'src/stream', 'src/api', 'src/cli', 'src/detector.ts', 'src/report')(t) || isIo(t),
  },
  {
    name: 'config modules are leaves: packages and other leaves only',
    applies: (f) => LEAVES.has(f),
    forbidden: (t) => t.startsWith('src/') && !LEAVES.has(t),
  },
  {
    name: 'scoring imports neither the detector facade nor the API, CLI or stream',
    applies: under('src/scoring'),
    forbidden: under('src/detector.ts', 'src/api', 'src/cli', 'src/stream'),
  },
  {
    name: 'adapters import no stream, API, CLI or detector',
    applies: under('src/adapters'),
    forbidden: under('src/stream', 'src/api', 'src/cli', 'src/detector.ts'),
  },
  {
    name: 'only the CLI imports the CLI',
    applies: (f) => !under('src/cli')(f),
    forbidden: under('src/cli'),
  },
  {
    name: 'nothing in src imports tests, benchmarks or scripts',
    applies: () => true,
    forbidden: (t) => /^(test|bench|scripts)\//.test(t),
  },
];

export function violations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    for (const rule of RULES) {
      if (!rule.applies(file)) continue;
      for (const t of targets) if (rule.forbidden(t)) out.push(`${file} -> ${t}: ${rule.name}`);
    }
  }
  return out;
}

const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

test('src/ follows the layering rules', () => {
  assert.deepEqual(violations(importGraph(sourceFiles(), read)), []);
});

test('the layering check catches a violation (it can fail)', () => {
  const files: Record<string, string> = {
    'src/flow/x.ts': "import { scoreTable } from '../scoring/batch-score.ts';\nimport type { K } from '../adapters/kafka-client.ts';\nconst fs = await import('node:fs');",
    'src/config.ts': "import { z } from 'zod';\nimport { parseCsv } from './data/csv.ts';",
    'src/scoring/y.ts': "export { fitDetector } from '../detector.ts';",
    'src/api/z.ts': "import { tinyModel } from '../../test/helpers/api.ts';",
  };
  const found = violations(importGraph(Object.keys(files), (f) => files[f])).map((v) => v.slice(0, v.indexOf(': ')));
  assert.deepEqual(found.sort(), [
    'src/api/z.ts -> test/helpers/api.ts',
    'src/config.ts -> src/data/csv.ts',
    'src/flow/x.ts -> node:fs',
    'src/flow/x.ts -> src/adapters/kafka-client.ts',
    'src/flow/x.ts -> src/scoring/batch-score.ts',
    'src/scoring/y.ts -> src/detector.ts',
  ]);
});
