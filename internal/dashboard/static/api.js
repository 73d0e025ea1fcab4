// Reading the nodes' APIs: JSON and text requests with the node mode's
// token, errors as the API states them, and Server-Sent Events over fetch
// (EventSource cannot send an Authorization header).

const TOKEN_KEY = 'linkd.dashboard.token';

// ApiError is a non-2xx answer: its status and the API's error code and
// message ({"error":{"code","message"}}), or a network failure (status 0).
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  get unavailable() { return this.status === 404 || this.status === 405 || this.status === 501; }
  get refused() { return this.status === 401 || this.status === 403; }
}

export class Api {
  // mode is "node" (send the token kept in sessionStorage) or "lane" (the
  // proxy adds tokens). onAuth is told of every 401, and of a 403 that
  // stops the page as a whole.
  constructor(mode, onAuth) {
    this.mode = mode;
    this.onAuth = onAuth;
    this.active = 0;
    this.waiting = [];
    this.limit = 4; // requests in flight at once; HTTP/1.1 gives a page 6 per host, one is the stream
  }

  get token() { return this.mode === 'node' ? sessionStorage.getItem(TOKEN_KEY) || '' : ''; }
  setToken(t) { if (t) sessionStorage.setItem(TOKEN_KEY, t.trim()); else sessionStorage.removeItem(TOKEN_KEY); }
  get needsToken() { return this.mode === 'node' && !this.token; }

  headers(extra = {}) {
    const h = { ...extra };
    if (this.mode === 'node' && this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async slot() {
    if (this.active < this.limit) { this.active++; return; }
    await new Promise((resolve) => this.waiting.push(resolve));
    this.active++;
  }

  release() {
    this.active--;
    const next = this.waiting.shift();
    if (next) next();
  }

  // request answers the Response of GET node.base + path, or throws an
  // ApiError.
  async request(node, path, { accept = 'application/json', timeout = 10000, urgent = false } = {}) {
    if (!urgent) await this.slot();
    try {
      let res;
      try {
        res = await fetch(node.base + path, {
          headers: this.headers({ Accept: accept }),
          cache: 'no-store',
          credentials: 'same-origin',
          signal: AbortSignal.timeout(timeout),
        });
      } catch (e) {
        throw new ApiError(0, 'unreachable', e.name === 'TimeoutError' ? 'no answer in time' : 'not reachable');
      }
      if (!res.ok) {
        let code = '', message = `${res.status} ${res.statusText}`;
        try {
          const body = await res.json();
          if (body && body.error) { code = body.error.code || ''; message = body.error.message || message; }
        } catch { /* not a JSON error */ }
        const err = new ApiError(res.status, code, message);
        if (res.status === 401 && this.onAuth) this.onAuth(err);
        throw err;
      }
      return res;
    } finally {
      if (!urgent) this.release();
    }
  }

  async json(node, path, opts) {
    const res = await this.request(node, path, opts);
    return res.json();
  }

  async text(node, path, opts) {
    const res = await this.request(node, path, { accept: 'text/plain', ...opts });
    return res.text();
  }
}

// EventStream follows an SSE endpoint with fetch, resuming after a break
// with Last-Event-ID. onMessage gets {id, event, data}; onState gets
// "connecting", "live", "reconnecting", "unavailable" (404) or "refused".
export class EventStream {
  constructor(api, url, { onMessage, onState }) {
    this.api = api;
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.lastId = '';
    this.stopped = false;
    this.abort = null;
  }

  start() { this.run(); return this; }

  stop() {
    this.stopped = true;
    if (this.abort) this.abort.abort();
  }

  async run() {
    let delay = 500;
    while (!this.stopped) {
      this.onState('connecting');
      this.abort = new AbortController();
      try {
        const headers = this.api.headers({ Accept: 'text/event-stream' });
        if (this.lastId) headers['Last-Event-ID'] = this.lastId;
        const res = await fetch(this.url, { headers, cache: 'no-store', signal: this.abort.signal });
        if (res.status === 404 || res.status === 405) { this.onState('unavailable', res.status); return; }
        if (res.status === 401 || res.status === 403) {
          const err = new ApiError(res.status, '', await errorMessage(res));
          if (res.status === 401 && this.api.onAuth) this.api.onAuth(err);
          this.onState('refused', res.status, err.message);
          return;
        }
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
        this.onState('live');
        delay = 500;
        await readSSE(res.body, (m) => {
          if (m.id !== undefined) this.lastId = m.id;
          this.onMessage(m);
        });
      } catch (e) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.onState('reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  }
}

async function errorMessage(res) {
  try {
    const b = await res.json();
    return (b.error && b.error.message) || `${res.status}`;
  } catch { return `${res.status} ${res.statusText}`; }
}

// readSSE parses a text/event-stream body, calling onMessage for each
// message with data (comments and heartbeats are skipped).
export async function readSSE(body, onMessage) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let msg = { data: [] };
  const dispatch = () => {
    if (msg.data.length) onMessage({ id: msg.id, event: msg.event || 'message', data: msg.data.join('\n') });
    msg = { data: [], id: undefined };
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    // A trailing \r may be the first half of \r\n: keep it for the next chunk.
    const end = buf.endsWith('\r') ? buf.length - 1 : buf.length;
    const lines = buf.slice(0, end).split(/\r\n|\r|\n/);
    buf = lines.pop() + buf.slice(end);
    for (const line of lines) {
      if (line === '') { dispatch(); continue; }
      if (line.startsWith(':')) continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') msg.data.push(value);
      else if (field === 'id') msg.id = value;
      else if (field === 'event') msg.event = value;
    }
  }
}

// parseMetrics reads the Prometheus text format into [{name, labels, value}]
// for the names wanted.
export function parseMetrics(text, wanted) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m || !wanted.has(m[1])) continue;
    const labels = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}
