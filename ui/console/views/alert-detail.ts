// One alert: its top sensors with the expected vs observed reading at the peak, their surprise,
// excess NLL and DAG parents, the score timeline around it (from
// InfluxDB through GET /scores), the graph with the alerting sensors and their parents
// highlighted, and the operator actions.
import { api, qs, ApiError } from '../api.ts';
import { h, fmtTime, act, flash } from '../dom.ts';
import { lineChart } from '../charts.ts';
import { drawDag } from '../../shared/dag-view.ts';
import type { Alert, GraphResponse, ScoreStep } from '../types.ts';
import { silenceFor } from './silences.ts';

const AROUND_MS = 2 * 3600_000;

/** A top sensor's expected or observed value(s), raw units; features named when there are several. */
function readings(rs: Alert['topSensors'][number]['readings'], which: 'expected' | 'observed'): string {
  return rs.map((r) => `${rs.length > 1 ? `${r.feature} ` : ''}${fmtValue(r[which])}`).join(', ');
}

function fmtValue(v: number): string {
  return String(Number(v.toPrecision(4)));
}

export async function alertDetailView(root: HTMLElement, id: string): Promise<void> {
  const a = await api.get<Alert>(`/alerts/${encodeURIComponent(id)}`);
  const path = `/alerts/${encodeURIComponent(a.id)}`;
  const reload = () => {
    root.replaceChildren();
    void alertDetailView(root, id);
  };
  const site = a.labels.site;
  const model = a.labels.model_version;
  const comment = h('input', { name: 'comment', placeholder: 'comment (optional)' });
  root.append(
    h('h2', {}, `${a.labels.alertname} at ${site}${a.labels.sensor ? ` (${a.labels.sensor})` : ''} `, h('span', { class: `badge ${a.status}` }, a.status), ' ', h('span', { class: 'badge' }, a.labels.severity)),
    h('p', { class: 'note' }, `${a.annotations.summary} — started ${fmtTime(a.startsAt)}, ended ${fmtTime(a.endsAt)}, model ${model}` +
      (a.evidence ? `, peak score ${a.evidence.peakScore.toFixed(2)} at ${fmtTime(a.evidence.peakAt)} (threshold ${a.evidence.threshold.toFixed(2)}, tail probability ${a.evidence.tailProbability.toExponential(1)})` : '')),
    h('p', { id: 'alert-description' }, a.annotations.description),
    h('div', { class: 'filters', id: 'alert-actions' },
      comment,
      h('button', { id: 'ack', onclick: () => act('Acknowledge', () => api.post(`${path}/ack`, comment.value ? { comment: comment.value } : {}), reload) }, 'Acknowledge'),
      h('button', { id: 'false-positive', onclick: () => act(a.falsePositive ? 'Unmark false positive' : 'Mark false positive', () => api.post(`${path}/false-positive`, { falsePositive: !a.falsePositive, ...(comment.value ? { comment: comment.value } : {}) }), reload) }, a.falsePositive ? 'Unmark false positive' : 'Mark false positive'),
      h('button', { id: 'silence-site', onclick: () => act(`Silence site ${site} for 1 h`, () => silenceFor([{ name: 'site', value: site }], 3600_000, comment.value || `from alert ${a.id}`), reload) }, `Silence ${site} 1 h`)),
    h('p', {}, `Acknowledged: ${a.acks.length ? a.acks.map((x) => `${x.by} at ${fmtTime(x.at)}${x.comment ? ` (${x.comment})` : ''}`).join('; ') : 'no'}. ` +
      `False positive: ${a.falsePositive ? `yes, by ${a.falsePositive.by} at ${fmtTime(a.falsePositive.at)}` : 'no'}. ` +
      `Silenced: ${a.silencedBy.length ? `yes (${a.silencedBy.length} silence${a.silencedBy.length > 1 ? 's' : ''})` : 'no'}.`),
    h('h3', {}, a.evidence ? `Top sensors at the peak (${fmtTime(a.evidence.peakAt)})` : 'Top sensors'),
    h('table', { id: 'top-sensors' },
      h('thead', {}, h('tr', {}, ...['sensor', 'expected', 'observed', 'surprise', 'excess NLL (nats)', 'parents in the DAG'].map((c) => h('th', {}, c)))),
      h('tbody', {}, ...a.topSensors.map((t) => h('tr', {},
        h('td', {}, t.sensor),
        h('td', { class: 'expected' }, readings(t.readings, 'expected')),
        h('td', { class: 'observed' }, readings(t.readings, 'observed')),
        h('td', {}, t.surprise.toFixed(2)),
        h('td', {}, t.excess.toFixed(2)),
        h('td', {}, t.parents.join(', ') || 'none'))))),
  );
  const timeline = h('div', { class: 'chart', id: 'alert-timeline' });
  const graph = h('div', { class: 'graph small', id: 'alert-graph' });
  root.append(h('h3', {}, 'Score timeline (±2 h)'), timeline, h('h3', {}, 'Graph: alerting sensors red, their parents orange'), graph);

  const start = Date.parse(a.startsAt);
  const end = a.endsAt ? Date.parse(a.endsAt) : Date.now();
  const top = a.topSensors.map((t) => t.sensor);
  try {
    const s = await api.get<{ steps: ScoreStep[] }>(`/scores${qs({ from: start - AROUND_MS, to: end + AROUND_MS, site, sensors: top.join(',') || '-' })}`);
    if (s.steps.length === 0) timeline.replaceWith(h('p', { class: 'note' }, 'No scores stored for this period.'));
    else lineChart(timeline, [
      { name: 'score', points: s.steps.map((x) => [Date.parse(x.timestamp), x.total]) },
      ...top.map((sensor) => ({ name: sensor, right: true, points: s.steps.map((x): [number, number] => [Date.parse(x.timestamp), x.sensors[sensor]?.excess ?? NaN]) })),
    ], { threshold: s.steps.find((x) => x.threshold !== null)?.threshold ?? null, shade: [start, end] });
  } catch (err) {
    timeline.replaceWith(h('p', { class: 'note' }, `Scores unavailable — ${(err as Error).message}`));
  }
  try {
    let g: GraphResponse;
    try {
      g = await api.get<GraphResponse>(`/graph${qs({ version: model })}`);
    } catch (err) {
      // The alert's model may have been removed from this registry: show the active one, and say so.
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      g = await api.get<GraphResponse>('/graph');
      flash(`Model ${model} is not in the registry; showing the active model ${g.version}`);
    }
    drawDag(graph, g.graph, { highlight: top, secondary: a.topSensors.flatMap((t) => t.parents) });
  } catch (err) {
    graph.replaceWith(h('p', { class: 'note' }, `Graph unavailable — ${(err as Error).message}`));
  }
}
