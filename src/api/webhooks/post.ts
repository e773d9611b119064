// One webhook POST to an address checked beforehand (target.ts): node:http(s) with a lookup that
// answers with that address only, so the connection cannot go anywhere else, while the Host
// header and TLS server name stay the URL's. Redirects are never followed (a 3xx is an answer
// like any other non-2xx). Errors are reported as short reasons without addresses or ports.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

export interface PostResult {
  status: number | null;
  /** null when the receiver answered 2xx. */
  error: string | null;
}

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'timed out',
};

function reason(err: Error & { code?: string }): string {
  if (err.name === 'TimeoutError' || err.message === 'timeout') return 'timed out';
  if (err.code && REASONS[err.code]) return REASONS[err.code];
  if (err.code?.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(err.message)) return 'TLS error';
  return 'network error';
}

export function postPinned(url: URL, address: string, family: 4 | 6, headers: Record<string, string>, body: string, timeoutMs: number): Promise<PostResult> {
  const lookup: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
    else cb(null, address, family);
  };
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = mod.request(url, {
      method: 'POST', lookup, agent: false, timeout: timeoutMs,
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    }, (res) => {
      // The body is not needed; read (and bound) it so the socket closes cleanly.
      let seen = 0;
      res.on('data', (c: Buffer) => {
        seen += c.length;
        if (seen > 65536) res.destroy();
      });
      const done = () => {
        const status = res.statusCode ?? null;
        resolve({ status, error: status !== null && status >= 200 && status < 300 ? null : `HTTP ${status}` });
      };
      res.on('end', done);
      res.on('close', done);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
    req.on('error', (err) => resolve({ status: null, error: reason(err) }));
    req.end(body);
  });
}
