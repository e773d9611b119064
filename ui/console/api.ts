// Every call the console makes: the API routes with the key the user entered (kept in this tab's
// sessionStorage only). The server's roles decide; a refusal comes back as an ApiError carrying
// the RFC 7807 problem, which the page shows as it is.
const KEY = 'ganf.apiKey';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Problem | null, text: string) {
    super(problem ? `${problem.status} ${problem.title}: ${problem.detail}` : `${status}: ${text}`);
  }
}

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  set: (k: string) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

export function authHeaders(): Record<string, string> {
  const k = session.key();
  return k ? { authorization: `Bearer ${k}` } : {};
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { ...authHeaders(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) {
    let problem: Problem | null = null;
    try {
      problem = JSON.parse(text) as Problem;
    } catch {
      // not a problem document
    }
    throw new ApiError(res.status, problem, text);
  }
  return (text ? JSON.parse(text) : null) as T;
}

export const api = {
  get: <T>(path: string) => call<T>('GET', path),
  post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
  del: <T>(path: string) => call<T>('DELETE', path),
};

/** A query string from the defined, non-empty values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}
