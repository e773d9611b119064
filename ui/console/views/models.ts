// Model versions (which is active, promote / rollback for operators), refit jobs with their
// progress, and the drift monitors' state.
import { api } from '../api.ts';
import { h, fmtTime, act } from '../dom.ts';
import type { Job, Models } from '../types.ts';

interface Drift {
  site: string;
  modelVersion: string;
  drifting: boolean;
  since: string | null;
  ks: { statistic: number | null; pValue: number | null; drifting: boolean };
  pageHinkley: { statistic: number; drifting: boolean };
}

export async function modelsView(root: HTMLElement): Promise<void> {
  const reload = () => {
    root.replaceChildren();
    void modelsView(root);
  };
  const [models, jobs] = await Promise.all([api.get<Models>('/models'), api.get<{ items: Job[] }>('/jobs')]);
  root.append(h('h2', {}, 'Models'),
    h('p', { class: 'note' }, models.active ? `Active: ${models.active.version} since ${fmtTime(models.active.changedAt)} (${models.active.reason}, by ${models.active.by}); rollback history: ${models.active.history.join(', ') || 'none'}` : 'No model is active.'),
    h('button', { id: 'rollback', onclick: () => act('Rollback', () => api.post('/models/rollback'), reload) }, 'Roll back to the previous version'),
    h('table', { id: 'models-table' }, h('thead', {}, h('tr', {}, ...['version', 'status', 'created', 'sensors', 'edges', 'threshold', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, ...models.items.map((m) => h('tr', { class: m.status },
        h('td', {}, m.version), h('td', {}, h('span', { class: `badge ${m.status}` }, m.status)), h('td', {}, fmtTime(m.createdAt)),
        h('td', {}, m.sensors.length), h('td', {}, m.edges), h('td', {}, m.threshold.toFixed(3)),
        h('td', {}, m.status === 'active' ? '' : h('button', { onclick: () => act(`Promote ${m.version}`, () => api.post(`/models/${encodeURIComponent(m.version)}/promote`), reload) }, 'Promote'), ' ',
          models.active && m.version !== models.active.version ? h('a', { href: `#/diff?from=${encodeURIComponent(m.version)}&to=${encodeURIComponent(models.active.version)}` }, 'diff vs active') : '')))),
    ),
    h('h3', {}, 'Refit jobs'),
    jobs.items.length === 0 ? h('p', { class: 'note' }, 'No refit jobs yet.') :
      h('table', { id: 'jobs-table' }, h('thead', {}, h('tr', {}, ...['job', 'trigger', 'status', 'phase', 'progress', 'created', 'result'].map((c) => h('th', {}, c)))),
        h('tbody', {}, ...jobs.items.map((j) => h('tr', {}, h('td', {}, j.id), h('td', {}, j.trigger ?? ''), h('td', {}, j.status), h('td', {}, j.phase),
          h('td', {}, h('progress', { max: '1', value: String(j.progress) })), h('td', {}, fmtTime(j.createdAt ?? null)),
          h('td', {}, j.result ? `${j.result.outcome ?? ''} ${j.result.version ?? ''}` : j.error ?? ''))))));
  // A job in progress: refresh its progress while this page stays open.
  if (jobs.items.some((j) => j.status === 'queued' || j.status === 'running')) {
    setTimeout(() => {
      if (location.hash.startsWith('#/models') && root.isConnected) reload();
    }, 2000);
  }
  const drift = h('div', { id: 'drift' }, h('h3', {}, 'Drift monitors'));
  root.append(drift);
  try {
    const d = await api.get<Drift>('/drift');
    // GET /drift without ?site= answers for the site that drifted first (else the first site seen).
    drift.append(h('p', {}, `Site ${d.site} (model ${d.modelVersion}): ${d.drifting ? 'drifting' : 'not drifting'}${d.since ? ` since ${fmtTime(d.since)}` : ''}. KS statistic ${d.ks.statistic?.toFixed(3) ?? '–'} (p ${d.ks.pValue?.toExponential(2) ?? '–'})${d.ks.drifting ? ' drifting' : ''}; Page-Hinkley ${d.pageHinkley.statistic.toFixed(2)}${d.pageHinkley.drifting ? ' drifting' : ''}.`));
  } catch (err) {
    drift.append(h('p', { class: 'note' }, (err as Error).message));
  }
}
