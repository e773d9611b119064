#!/usr/bin/env node
// The installed `ganf` command: runs the compiled CLI in dist/ with plain node (no TypeScript
// loader at run time). Build it first with `npm run build`; in development, `npm run ganf -- ...`
// runs the sources through tsx instead.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write(`ganf: the compiled CLI is missing (${main}).\nRun \`npm run build\` in the project directory first (or \`npm run ganf -- <command>\` to run from source with tsx).\n`);
  process.exit(1);
}
// Stack traces (GANF_DEBUG=1) point into the TypeScript sources through dist's source maps.
process.setSourceMapsEnabled(true);
await import(pathToFileURL(main).href);
