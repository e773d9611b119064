// A tiny element builder and the page's message line: enough for a console of tables and forms
// without a framework.
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | ((e: Event) => void)> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') e.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false) e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(typeof c === 'number' ? String(c) : c);
  return e;
}

/** The message line under the navigation: results of actions and every refusal from the API. */
export function flash(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const f = document.getElementById('flash')!;
  f.textContent = text;
  f.className = text ? kind : '';
}

/** A reading in raw units, to 4 significant digits. */
export const fmtValue = (v: number) => String(Number(v.toPrecision(4)));
export const fmtTime = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–');

/** Runs an action and reports its outcome (or the API's refusal) in the message line. */
export async function act(what: string, fn: () => Promise<unknown>, after?: () => void): Promise<void> {
  try {
    await fn();
    flash(`${what}: done`);
    after?.();
  } catch (err) {
    flash(`${what} refused — ${(err as Error).message}`, 'error');
  }
}
