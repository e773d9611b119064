// Builds the operator console (ui/console, TypeScript) into dist/ui: one bundled script, its
// stylesheet and index.html. Run by `npm run build:ui`, `npm install` (postinstall) and npm test.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** @param {string} [outDir] */
export async function buildConsole(outDir = path.join(root, 'dist', 'ui')) {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [path.join(root, 'ui', 'console', 'main.ts')],
    outfile: path.join(outDir, 'console.js'),
    bundle: true, format: 'iife', platform: 'browser', target: 'es2022', minify: true, sourcemap: true,
    legalComments: 'none', logLevel: 'warning',
  });
  for (const f of ['index.html', 'console.css']) await copyFile(path.join(root, 'ui', 'console', f), path.join(outDir, f));
  return outDir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const out = await buildConsole();
  process.stderr.write(`console built into ${path.relative(process.cwd(), out)}\n`);
}
