// The operator console: login with an API key, then hash-routed views over the API.
import { api, session, ApiError } from './api.ts';
import { h, flash } from './dom.ts';
import { alertsView, leaveAlerts } from './views/alerts.ts';
import { alertDetailView } from './views/alert-detail.ts';
import { silencesView } from './views/silences.ts';
import { graphView } from './views/graph.ts';
import { diffView } from './views/diff.ts';
import { modelsView } from './views/models.ts';

const NAV: [string, string][] = [['#/alerts', 'Alerts'], ['#/silences', 'Silences'], ['#/graph', 'Graph'], ['#/diff', 'Graph diff'], ['#/models', 'Models & refits']];

function loginView(root: HTMLElement): void {
  const key = h('input', { type: 'password', name: 'key', id: 'api-key', placeholder: 'API key', autocomplete: 'off', required: true });
  root.append(h('h2', {}, 'Sign in'),
    h('p', { class: 'note' }, 'Enter an API key. It is kept in this tab\'s session storage only and sent with every request; the API decides what its role may do.'),
    h('form', { id: 'login', class: 'filters', onsubmit: (e: Event) => {
      e.preventDefault();
      session.set(key.value.trim());
      // Any reader route tells whether the key is valid.
      api.get('/alerts?limit=1').then(() => {
        flash('Signed in');
        location.hash = '#/alerts';
        void route();
      }, (err: Error) => {
        session.clear();
        flash(`Sign-in refused — ${err.message}`, 'error');
      });
    } }, key, h('button', { type: 'submit' }, 'Sign in')));
}

async function route(): Promise<void> {
  const root = document.getElementById('view')!;
  leaveAlerts();
  root.replaceChildren();
  const signedIn = session.key() !== null;
  document.getElementById('nav')!.replaceChildren(...(signedIn ? [...NAV.map(([href, label]) => h('a', { href, class: location.hash.startsWith(href) ? 'current' : '' }, label)),
    h('button', { id: 'logout', onclick: () => { session.clear(); flash('Signed out'); location.hash = '#/login'; void route(); } }, 'Sign out')] : []));
  if (!signedIn) return loginView(root);
  const [path, query] = (location.hash.slice(1) || '/alerts').split('?');
  const params = new URLSearchParams(query ?? '');
  try {
    const m = /^\/alerts\/(.+)$/.exec(path);
    if (m) await alertDetailView(root, decodeURIComponent(m[1]));
    else if (path === '/silences') await silencesView(root);
    else if (path === '/graph') await graphView(root);
    else if (path === '/diff') await diffView(root, params);
    else if (path === '/models') await modelsView(root);
    else await alertsView(root);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.clear();
      flash('The API key is no longer valid; sign in again', 'error');
      return route();
    }
    flash((err as Error).message, 'error');
  }
}

// A message belongs to the view it came from.
window.addEventListener('hashchange', () => {
  flash('');
  void route();
});
void route();
