// Hand-written DOT (Graphviz) and GEXF 1.3 (Gephi) exports of a learned DAG, so users can look at
// the graph without extra dependencies. Sensor names are arbitrary user strings: everything that
// reaches the output is escaped.
import type { DagGraph } from './extract.ts';

function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r\n|\r|\n/g, '\\n')}"`;
}

/**
 * Edge weight goes into `label` and `penwidth` (scaled to the strongest edge), not into
 * Graphviz's own `weight`, which dot requires to be an integer and uses for layout.
 */
export function toDot(graph: DagGraph, name = 'ganf'): string {
  let max = 0;
  graph.forEachEdge((_e, a) => {
    max = Math.max(max, Math.abs(a.weight));
  });
  const lines = [`digraph ${dotString(name)} {`, '  node [shape=box];'];
  graph.forEachNode((n, a) => lines.push(`  ${dotString(n)} [index=${a.index}];`));
  graph.forEachEdge((_e, a, s, t) => {
    const width = max > 0 ? 1 + 3 * (Math.abs(a.weight) / max) : 1;
    lines.push(`  ${dotString(s)} -> ${dotString(t)} [label=${dotString(formatWeight(a.weight))}, penwidth=${width.toFixed(2)}];`);
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}

// XML 1.0 cannot carry most C0 controls or lone surrogates even as character references, so a
// name containing one cannot be exported faithfully: refuse rather than silently change it.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function xmlAttr(s: string): string {
  if (XML_INVALID.test(s)) throw new Error(`toGexf: ${JSON.stringify(s)} contains a character XML cannot represent`);
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    // Attribute-value normalisation would turn raw whitespace controls into spaces.
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

export function toGexf(graph: DagGraph): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<gexf xmlns="http://gexf.net/1.3" version="1.3">',
    '  <graph defaultedgetype="directed" mode="static">',
    '    <attributes class="node">',
    '      <attribute id="index" title="index" type="integer"/>',
    '    </attributes>',
    '    <nodes>',
  ];
  graph.forEachNode((n, a) => {
    lines.push(`      <node id="${xmlAttr(n)}" label="${xmlAttr(n)}"><attvalues><attvalue for="index" value="${a.index}"/></attvalues></node>`);
  });
  lines.push('    </nodes>', '    <edges>');
  let id = 0;
  graph.forEachEdge((_e, a, s, t) => {
    lines.push(`      <edge id="${id++}" source="${xmlAttr(s)}" target="${xmlAttr(t)}" weight="${formatWeight(a.weight)}"/>`);
  });
  lines.push('    </edges>', '  </graph>', '</gexf>');
  return lines.join('\n') + '\n';
}

// Shortest round-trip form; weights come from float32 so this is at most ~9 significant digits.
function formatWeight(w: number): string {
  return String(w);
}
