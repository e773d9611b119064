// Alertmanager-style silences: list, create (matchers, start, end, comment; the creator is the
// API key) and expire. Operators only — the API refuses readers with 403, shown as is.
import { api } from '../api.ts';
import { h, fmtTime, act } from '../dom.ts';
import type { Matcher, Silence } from '../types.ts';

export function silenceFor(matchers: Matcher[], durationMs: number, comment: string): Promise<Silence> {
  const now = Date.now();
  return api.post<Silence>('/silences', { matchers, startsAt: new Date(now).toISOString(), endsAt: new Date(now + durationMs).toISOString(), comment });
}

const describe = (m: Matcher) => `${m.name}${m.isEqual === false ? (m.isRegex ? '!~' : '!=') : m.isRegex ? '=~' : '='}"${m.value}"`;

export async function silencesView(root: HTMLElement): Promise<void> {
  const tbody = h('tbody');
  const load = async () => {
    const { items } = await api.get<{ items: Silence[] }>('/silences');
    tbody.replaceChildren(...items.map((s) => h('tr', { 'data-id': s.id, class: s.status.state },
      h('td', {}, h('span', { class: `badge ${s.status.state}` }, s.status.state)),
      h('td', {}, s.matchers.map(describe).join(', ')),
      h('td', {}, fmtTime(s.startsAt)), h('td', {}, fmtTime(s.endsAt)),
      h('td', {}, s.createdBy), h('td', {}, s.comment),
      h('td', {}, s.status.state === 'expired' ? '' : h('button', { onclick: () => act('Expire silence', () => api.del(`/silences/${s.id}`), () => void load()) }, 'Expire')))));
  };
  const local = (ms: number) => new Date(ms - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const name = h('select', { name: 'name' }, ...['site', 'sensor', 'severity', 'alertname', 'model_version'].map((n) => h('option', { value: n }, n)));
  const op = h('select', { name: 'op' }, ...['=', '!=', '=~', '!~'].map((o) => h('option', { value: o }, o)));
  const value = h('input', { name: 'value', placeholder: 'value', required: true });
  const starts = h('input', { type: 'datetime-local', name: 'startsAt', value: local(Date.now()) });
  const ends = h('input', { type: 'datetime-local', name: 'endsAt', value: local(Date.now() + 3600_000) });
  const comment = h('input', { name: 'comment', placeholder: 'why (required)', required: true });
  const form = h('form', { id: 'silence-form', class: 'filters', onsubmit: (e: Event) => {
    e.preventDefault();
    const o = op.value;
    void act('Create silence', () => api.post<Silence>('/silences', {
      matchers: [{ name: name.value, value: value.value, isRegex: o.endsWith('~'), isEqual: o.startsWith('=') }],
      startsAt: new Date(starts.value).toISOString(), endsAt: new Date(ends.value).toISOString(), comment: comment.value,
    }), () => void load());
  } }, name, op, value, h('label', {}, 'from ', starts), h('label', {}, 'until ', ends), comment, h('button', { type: 'submit' }, 'Silence'));
  root.append(h('h2', {}, 'Silences'),
    h('p', { class: 'note' }, 'Silenced alerts are still stored and listed; their notifications are not pushed to webhooks while the silence is active.'),
    form, h('table', { id: 'silences-table' }, h('thead', {}, h('tr', {}, ...['state', 'matchers', 'starts', 'ends', 'created by', 'comment', ''].map((c) => h('th', {}, c)))), tbody));
  await load();
}
