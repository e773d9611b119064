// Alerts: filters, the list (newest first), live updates over SSE, and the per-row actions
// (acknowledge, false positive, silence the site) whose permission the API decides.
import { api, qs } from '../api.ts';
import { subscribe, type SseHandle } from '../sse.ts';
import { h, fmtTime, fmtValue, act, flash } from '../dom.ts';
import type { Alert, AlertPage, ChangeEvent } from '../types.ts';
import { silenceFor } from './silences.ts';

interface Filters {
  site: string;
  status: string;
  severity: string;
  sensor: string;
}

let live: SseHandle | null = null;

/** Ends the live stream when another view takes over. */
export function leaveAlerts(): void {
  live?.close();
  live = null;
}

function matches(a: Alert, f: Filters): boolean {
  return (!f.site || a.labels.site === f.site) && (!f.status || a.status === f.status) && (!f.severity || a.labels.severity === f.severity) &&
    (!f.sensor || a.labels.sensor === f.sensor || a.topSensors.some((t) => t.sensor === f.sensor));
}

export async function alertsView(root: HTMLElement): Promise<void> {
  const f: Filters = { site: '', status: '', severity: '', sensor: '' };
  const rows = new Map<string, HTMLTableRowElement>();
  const tbody = h('tbody');
  const liveState = h('span', { id: 'live-state', class: 'badge' }, 'connecting…');
  const input = (name: keyof Filters, placeholder: string) => h('input', { name, placeholder, oninput: (e: Event) => { f[name] = (e.target as HTMLInputElement).value.trim(); } });
  const select = (name: keyof Filters, options: string[]) => h('select', { name, onchange: (e: Event) => { f[name] = (e.target as HTMLSelectElement).value; } }, h('option', { value: '' }, `any ${name}`), ...options.map((o) => h('option', { value: o }, o)));
  const form = h('form', { id: 'alert-filters', class: 'filters', onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    input('site', 'site'), select('status', ['firing', 'resolved']), select('severity', ['critical', 'warning']), input('sensor', 'sensor'),
    h('button', { type: 'submit' }, 'Filter'), liveState);
  root.append(h('h2', {}, 'Alerts'), form,
    h('table', { id: 'alerts-table' }, h('thead', {}, h('tr', {}, ...['status', 'alert', 'severity', 'site', 'started', 'ended', 'top sensors: expected → observed', 'acknowledged', 'flags', ''].map((c) => h('th', {}, c)))), tbody));

  const render = (a: Alert, fresh = false): void => {
    const tr = h('tr', { 'data-id': a.id, class: `${a.status}${fresh ? ' fresh' : ''}` },
      h('td', {}, h('span', { class: `badge ${a.status}` }, a.status)),
      h('td', {}, a.labels.alertname),
      h('td', {}, a.labels.severity),
      h('td', {}, a.labels.site),
      h('td', {}, fmtTime(a.startsAt)),
      h('td', {}, fmtTime(a.endsAt)),
      h('td', { class: 'top' }, a.topSensors.map((t) => `${t.sensor} ${t.readings.map((r) => `${fmtValue(r.expected)} → ${fmtValue(r.observed)}`).join(', ')}`).join('; ')),
      h('td', { class: 'ack' }, a.ack ? `${a.ack.by} ${fmtTime(a.ack.at)}` : '–'),
      h('td', { class: 'flags' }, [a.falsePositive ? 'false positive' : '', a.silencedBy.length ? 'silenced' : ''].filter(Boolean).join(', ')),
      h('td', { class: 'actions' },
        h('a', { href: `#/alerts/${encodeURIComponent(a.id)}` }, 'detail'), ' ',
        h('button', { class: 'ack-btn', onclick: () => act('Acknowledge', () => api.post<Alert>(`/alerts/${encodeURIComponent(a.id)}/ack`, {}), undefined) }, 'Ack'), ' ',
        h('button', { class: 'silence-btn', onclick: () => act(`Silence site ${a.labels.site} for 1 h`, () => silenceFor([{ name: 'site', value: a.labels.site }], 3600_000, `silenced from alert ${a.id}`), () => void load()) }, 'Silence site')));
    const old = rows.get(a.id);
    if (!matches(a, f)) {
      old?.remove();
      rows.delete(a.id);
      return;
    }
    if (old) old.replaceWith(tr);
    else tbody.prepend(tr);
    rows.set(a.id, tr);
  };

  const load = async (): Promise<void> => {
    try {
      const page = await api.get<AlertPage>(`/alerts${qs({ ...f, limit: 200 })}`);
      tbody.replaceChildren();
      rows.clear();
      for (const a of [...page.items].reverse()) render(a);
    } catch (err) {
      flash(`Loading alerts failed — ${(err as Error).message}`, 'error');
    }
  };

  // Subscribe first, then list: a change between the two is applied twice, harmlessly.
  leaveAlerts();
  live = subscribe('/alerts/stream', (e) => {
    if (e.event !== 'alert' && e.event !== 'ack' && e.event !== 'false-positive') return;
    const c = JSON.parse(e.data) as ChangeEvent;
    render(c.alert, c.type === 'alert');
  }, (up) => {
    liveState.textContent = up ? 'live' : 'reconnecting…';
    liveState.className = `badge ${up ? 'live' : 'down'}`;
  });
  await load();
}
