// Server-Sent Events over fetch: EventSource cannot send an Authorization header, and the key must
// not go into a URL (logs, history). Reconnects with Last-Event-ID, so the API replays whatever
// was missed while the connection was down.
import { authHeaders } from './api.ts';

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

export interface SseHandle {
  close(): void;
}

export function subscribe(path: string, onEvent: (e: SseEvent) => void, onState: (connected: boolean) => void): SseHandle {
  let lastId: string | null = null;
  let stopped = false;
  let abort = new AbortController();

  const run = async (): Promise<void> => {
    while (!stopped) {
      try {
        const res = await fetch(path, { headers: { ...authHeaders(), accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) }, signal: abort.signal });
        if (!res.ok || !res.body) throw new Error(`SSE ${res.status}`);
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut: number;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const e = parseBlock(block);
            if (e) {
              if (e.id) lastId = e.id;
              onEvent(e);
            }
          }
        }
      } catch {
        // network error or abort: fall through to the retry
      }
      onState(false);
      if (!stopped) await new Promise((r) => setTimeout(r, 1000));
    }
  };
  void run();
  return {
    close() {
      stopped = true;
      abort.abort();
      abort = new AbortController();
    },
  };
}

function parseBlock(block: string): SseEvent | null {
  let id: string | null = null;
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue; // comment (heartbeat)
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { id, event, data: data.join('\n') } : null;
}
