// A prior topology file (grid lines, road segments) on disk: the file reading around the pure
// parser in src/dag-learning/prior.ts, which stays free of I/O.
import { readFile } from 'node:fs/promises';
import { parsePrior, type PriorOptions, type PriorTopology } from '../dag-learning/prior.ts';

/** Read and parse a prior file. Errors name the file, the line, and the unknown sensor or bad value. */
export async function loadPrior(spec: PriorOptions & { path: string }, sensors: readonly string[]): Promise<PriorTopology> {
  const text = await readFile(spec.path, 'utf8');
  try {
    return parsePrior(text, sensors, spec);
  } catch (err) {
    throw new Error(`prior ${spec.path}: ${(err as Error).message}`);
  }
}
