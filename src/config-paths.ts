// File paths inside a config file mean "relative to that file", as in every tool that reads a
// config (tsconfig, eslint): `config/los-loop.json` then finds its prior wherever the command runs.
// Paths given on the command line stay relative to the working directory, so this runs before
// flag overrides are applied.
import path from 'node:path';
import { loadConfigFile } from './config.ts';

/** The config object of `file` with `dag.prior.path` resolved against the file's directory. */
export function loadConfigFileResolved(file: string): unknown {
  return resolveConfigPaths(loadConfigFile(file), file);
}

export function resolveConfigPaths(raw: unknown, file: string): unknown {
  const prior = (raw as { dag?: { prior?: { path?: unknown } } } | null)?.dag?.prior;
  if (!prior || typeof prior.path !== 'string' || path.isAbsolute(prior.path)) return raw;
  const out = structuredClone(raw) as { dag: { prior: { path: string } } };
  out.dag.prior.path = path.resolve(path.dirname(file), prior.path);
  return out;
}
