// IsolationForest (Liu, Ting & Zhou, ICDM 2008), small and seeded: the npm packages for it are
// unmaintained single-author releases without a seed, and a benchmark row has to be reproducible.
// 100 trees on subsamples of 256 rows, height limit ceil(log2 256) = 8, score 2^(-E[h(x)] / c(256)).
import { DataError, type SeriesTable } from '../../data/table.ts';
import { seededUniform } from '../../util/rng.ts';
import { columnsOf, rowsOf, type ColumnSet } from './columns.ts';
import type { BaselineScores } from './types.ts';

type Tree = { size: number } | { feature: number; split: number; left: Tree; right: Tree };

export interface IsolationForest extends ColumnSet {
  kind: 'isolation-forest';
  subsample: number;
  trees: Tree[];
}

export interface IsolationForestOptions {
  trees?: number;
  subsample?: number;
  seed?: number;
}

const EULER_GAMMA = 0.5772156649015329;

/** c(n): the average path length of an unsuccessful binary-search-tree search among n points. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

export function fitIsolationForest(train: SeriesTable, opts: IsolationForestOptions = {}): IsolationForest {
  const cols = columnsOf(train);
  const rows = rowsOf(train, cols, 'training data');
  if (rows.length < 2) throw new DataError({ field: 'train', reason: `need at least 2 training rows, got ${rows.length}` });
  const nTrees = opts.trees ?? 100;
  const psi = Math.min(opts.subsample ?? 256, rows.length);
  const heightLimit = Math.ceil(Math.log2(psi));
  const rand = seededUniform(opts.seed ?? 42);
  const index = Array.from({ length: rows.length }, (_, i) => i);
  const trees: Tree[] = [];
  for (let b = 0; b < nTrees; b++) {
    // Partial Fisher-Yates: the first psi entries become a sample without replacement.
    for (let i = 0; i < psi; i++) {
      const j = i + Math.floor(rand() * (index.length - i));
      [index[i], index[j]] = [index[j], index[i]];
    }
    trees.push(grow(index.slice(0, psi).map((i) => rows[i]), 0, heightLimit, rand));
  }
  return { kind: 'isolation-forest', ...cols, subsample: psi, trees };
}

function grow(xs: Float64Array[], depth: number, limit: number, rand: () => number): Tree {
  if (depth >= limit || xs.length <= 1) return { size: xs.length };
  const P = xs[0].length;
  // Only columns that vary within the node can split it; a node where none does is a leaf.
  const candidates: { f: number; lo: number; hi: number }[] = [];
  for (let f = 0; f < P; f++) {
    let lo = Infinity, hi = -Infinity;
    for (const x of xs) { lo = Math.min(lo, x[f]); hi = Math.max(hi, x[f]); }
    if (hi > lo) candidates.push({ f, lo, hi });
  }
  if (candidates.length === 0) return { size: xs.length };
  const { f, lo, hi } = candidates[Math.floor(rand() * candidates.length)];
  const split = lo + rand() * (hi - lo);
  return {
    feature: f, split,
    left: grow(xs.filter((x) => x[f] < split), depth + 1, limit, rand),
    right: grow(xs.filter((x) => x[f] >= split), depth + 1, limit, rand),
  };
}

function pathLength(tree: Tree, x: Float64Array): number {
  let depth = 0;
  let node = tree;
  while (!('size' in node)) {
    node = x[node.feature] < node.split ? node.left : node.right;
    depth++;
  }
  // A leaf of n unseparated points stands for a subtree of average depth c(n).
  return depth + averagePathLength(node.size);
}

/** Score in (0, 1]: near 1 = isolated quickly (anomalous), well below 0.5 = deep inside the data. No per-sensor view. */
export function scoreIsolationForest(table: SeriesTable, forest: IsolationForest): BaselineScores {
  const rows = rowsOf(table, forest, 'the scored table');
  const norm = averagePathLength(forest.subsample);
  const scores = new Float64Array(rows.length);
  rows.forEach((x, t) => {
    let h = 0;
    for (const tree of forest.trees) h += pathLength(tree, x);
    scores[t] = 2 ** (-(h / forest.trees.length) / norm);
  });
  return { scores, perSensor: null, sensors: [...forest.sensors] };
}
