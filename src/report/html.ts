// One self-contained report.html: the page script (ui/report, bundled with esbuild on first use)
// and the data are inlined, so the file opens offline from disk and can be mailed around.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { reportData, DEFAULT_LIMITS, type ReportLimits } from './data.ts';
import type { ReportInput } from './types.ts';

const ENTRY = fileURLToPath(new URL('../../ui/report/main.ts', import.meta.url));

let bundle: Promise<string> | undefined;

/**
 * Bundled at run time rather than shipped prebuilt, so a report always carries the page code of
 * the checkout that wrote it (about 1 s, once per process).
 */
export function reportScript(): Promise<string> {
  bundle ??= build({
    entryPoints: [ENTRY], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022',
    minify: true, legalComments: 'none', logLevel: 'silent',
  }).then((r) => r.outputFiles[0].text);
  return bundle;
}

/** Inside <script>, "</script" (any case) and "<!--" would end or confuse the element. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2733; background: #fafbfc; }
header { padding: 16px 24px; background: #1d2733; color: #fff; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: #c5ced8; }
main { padding: 8px 24px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e1e5ea; border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
h2 { font-size: 16px; margin: 0 0 6px; }
.note { color: #5b6775; margin: 0 0 8px; font-size: 13px; }
.chart { width: 100%; }
.half { display: inline-block; width: 49%; height: 380px; }
.graph { width: 100%; height: 560px; border: 1px solid #eef0f3; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid #e1e5ea; padding: 4px 10px; text-align: left; }
tr.miss td:nth-child(5) { color: #d62728; font-weight: 600; }
tr.hit td:nth-child(5) { color: #2ca02c; font-weight: 600; }
`;

export async function renderReport(input: ReportInput, limits: ReportLimits = DEFAULT_LIMITS): Promise<string> {
  const data = reportData(input, limits);
  const script = await reportScript();
  // JSON inside a non-executed script element: only "<" needs escaping ("</script>" and "<!--").
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1 id="title">${escapeHtml(input.title)}</h1><p id="subtitle"></p></header>
<main id="content"></main>
<script type="application/json" id="report-data">${json}</script>
<script>${scriptSafe(script)}</script>
</body>
</html>
`;
}

export async function writeReport(file: string, input: ReportInput, limits?: ReportLimits): Promise<void> {
  await writeFile(file, await renderReport(input, limits));
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
