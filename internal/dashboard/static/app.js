// The linkd dashboard: wires the panels to the nodes' APIs. It reads
// config.json (mode and nodes), follows the event stream, and polls the
// JSON endpoints that have no stream every few seconds, lightly: the page
// runs beside the nodes it watches.

import { Api, ApiError, EventStream, parseMetrics } from './api.js';
import { NetworkMap } from './map.js';
import { Feed } from './feed.js';
import { Alerts } from './alerts.js';
import { Allocations } from './allocations.js';
import { ShipmentView } from './shipment.js';
import { NodeFigures, cosignersOf } from './metrics.js';

const $ = (id) => document.getElementById(id);
const AUTH_ERROR_KEY = 'linkd.dashboard.authError';

// Poll periods, milliseconds.
const EVERY = { links: 2000, checkpoint: 2000, alerts: 4000, allocations: 3000, metrics: 5000, peers: 30000, fallback: 3000, retryMissing: 30000 };
const METRICS = new Set(['linkd_log_size', 'linkd_ingest_events_total', 'linkd_link_lag_entries', 'linkd_link_lag_seconds']);

class App {
  constructor(cfg, projection) {
    this.cfg = cfg;
    this.mode = cfg.mode === 'lane' ? 'lane' : 'node';
    this.api = new Api(this.mode, (err) => this.authFailed(err));
    this.parties = new Map();
    this.nodes = [];
    for (const n of cfg.nodes || []) this.addNode(n.party, n.base || '');
    this.extraNodes = new Map(); // peers seen in links or the directory that are not nodes here
    this.name = (id) => (id && this.parties.get(id) && this.parties.get(id).name) || id || '';

    this.map = new NetworkMap($('map'), projection);
    this.feed = new Feed({ latest: $('feed-latest'), exceptions: $('feed-exceptions'), exceptionsEmpty: $('feed-exceptions-empty'), rate: $('feed-rate'), name: this.name, onSelect: (ref) => this.showShipment(ref) });
    this.alerts = new Alerts({ root: $('alerts'), list: $('alert-list'), holds: $('hold-list'), equivocations: $('equivocations'), empty: $('alerts-empty'), note: $('alerts-note'), name: this.name });
    this.allocations = new Allocations({ moves: $('alloc-moves'), movesEmpty: $('alloc-moves-empty'), stock: $('alloc-stock'), note: $('alloc-note'), name: this.name });
    this.shipment = new ShipmentView({ api: this.api, form: $('ship-form'), input: $('ship-ref'), nodeSelect: $('ship-node'), nodeLabel: $('ship-node-label'), state: $('ship-state'), table: $('ship-timeline'), nodes: () => this.nodes, name: this.name });
    this.figures = new NodeFigures({ tbody: $('metrics').querySelector('tbody'), note: $('metrics-note'), name: this.name });

    this.feed.onEvent((ev, d) => {
      this.map.pulse(ev.origin);
      if (d.code === 'HOLD') this.map.pulse(ev.origin, 'hold');
      this.allocations.fromEvent(ev);
      if (d.code === 'RALC') this.dirty.allocations = true;
    });
    this.dirty = {};
    this.reach = new Map(); // node → {ok, detail}
    this.linkStatus = new Map(); // node → [link.Status]
    this.lagPolls = new Map(); // "from>to" → successive polls with a lag
    this.lagSeconds = new Map(); // "from>to" → seconds, from metrics
    this.missing = new Map(); // "node path" → time to ask again after 404/403
    this.streams = [];
  }

  addNode(party, base) {
    if (!party || !party.id || this.nodes.some((n) => n.id === party.id)) return;
    this.nodes.push({ id: party.id, party, base });
    this.parties.set(party.id, party);
  }

  async start() {
    $('title').textContent = this.cfg.title || 'linkd';
    document.title = this.cfg.title || 'linkd';
    if (this.mode === 'node') {
      const signOut = $('sign-out');
      signOut.hidden = false;
      signOut.addEventListener('click', () => { this.api.setToken(''); location.reload(); });
      if (this.api.needsToken) {
        await this.askToken(sessionStorage.getItem(AUTH_ERROR_KEY) || '');
      }
      sessionStorage.removeItem(AUTH_ERROR_KEY);
      if (!this.nodes.length) {
        try {
          const card = await this.api.json({ base: '' }, '/v1/node/card');
          this.addNode(card.party, '');
        } catch (err) {
          if (err.status === 401) return; // authFailed asks again
          this.banner(err.status === 403 ? `This token's role may not read the node's card: ${err.message}` : `The node did not answer: ${err.message}`);
          return;
        }
      }
      this.nodes[0].self = true;
      $('scope').textContent = `node of ${this.name(this.nodes[0].id)}`;
    } else {
      $('scope').textContent = `lane · ${this.nodes.length} nodes`;
    }
    this.drawNodes();
    this.startStream();
    this.backfill();
    this.every(EVERY.links, () => this.pollLinks());
    this.every(EVERY.checkpoint, () => this.pollCheckpoints());
    this.every(EVERY.alerts, () => this.pollAlerts());
    this.every(EVERY.allocations, () => this.pollAllocations());
    this.every(EVERY.metrics, () => this.pollMetrics());
    if (this.mode === 'node') this.every(EVERY.peers, () => this.pollPeers());
    setInterval(() => { $('clock').textContent = new Date().toISOString().slice(11, 19) + ' UTC'; }, 1000);
    const m = /^#shipment=(.+)$/.exec(location.hash);
    if (m) this.showShipment(decodeURIComponent(m[1]));
  }

  // askToken shows the token dialog until a token is given.
  askToken(error) {
    const dialog = $('token-dialog');
    const errEl = $('token-error');
    errEl.hidden = !error;
    errEl.textContent = error;
    dialog.showModal();
    return new Promise((resolve) => {
      $('token-form').addEventListener('submit', () => {
        this.api.setToken($('token-input').value);
        resolve();
      }, { once: true });
      dialog.addEventListener('cancel', (e) => e.preventDefault());
    });
  }

  // authFailed handles a 401: in node mode the token is wrong, expired or
  // revoked, so forget it and ask again; in lane mode the proxy's token for
  // a node is, which only its operator can fix.
  authFailed(err) {
    if (this.mode === 'node') {
      if (this.stopping) return;
      this.stopping = true;
      this.api.setToken('');
      sessionStorage.setItem(AUTH_ERROR_KEY, `The node refused the token (${err.status}): ${err.message}`);
      location.reload();
    } else {
      this.banner(`A node refused the dashboard's token (${err.status}): ${err.message}`);
    }
  }

  banner(text) {
    const b = $('banner');
    b.textContent = text;
    b.hidden = !text;
  }

  // every runs f now and then period ms after each run ends, skipping runs
  // while the page is hidden.
  every(period, f) {
    const run = async () => {
      if (!document.hidden && !this.stopping) {
        try { await f(); } catch (e) { console.debug('poll failed', e); }
      }
      setTimeout(run, period);
    };
    run();
  }

  // ask reports whether path may be asked of node now: after a 404 or 403 it
  // waits retryMissing before asking again.
  ask(node, path) { return (this.missing.get(`${node.id} ${path}`) || 0) <= Date.now(); }
  missed(node, path, err) {
    if (err instanceof ApiError && (err.unavailable || err.refused)) this.missing.set(`${node.id} ${path}`, Date.now() + EVERY.retryMissing);
  }

  async each(f) { await Promise.all(this.nodes.map((n) => f(n).catch((e) => console.debug(n.id, e)))); }

  drawNodes() {
    const list = this.nodes.map((n) => ({ id: n.id, name: n.party.name || n.id, roles: n.party.roles, location: n.party.location, country: countryOf(n.party), self: !!n.self }));
    for (const [id, p] of this.extraNodes) list.push({ id, name: p.name || id, roles: p.roles, location: p.location, country: countryOf(p), self: false });
    this.map.setNodes(list);
    const unplaced = list.filter((n) => !n.location && !n.country).map((n) => n.name);
    $('map-note').textContent = [unplaced.length ? `Site not known for ${unplaced.join(', ')}: shown along the bottom edge.` : '', this.peersNote || ''].filter(Boolean).join(' ');
  }

  // --- the event stream -------------------------------------------------

  startStream() {
    const url = this.mode === 'lane' ? laneStreamURL(this.nodes) : this.nodes[0].base + '/v1/stream';
    const pill = $('stream-state');
    const nodeStates = new Map();
    const show = (cls, text) => { pill.className = `pill ${cls}`; pill.textContent = text; };
    const s = new EventStream(this.api, url, {
      onMessage: (m) => {
        if (m.event === 'node') {
          try {
            const d = JSON.parse(m.data);
            nodeStates.set(d.node, d.state);
            const up = [...nodeStates.values()].filter((x) => x === 'up').length;
            show(up ? 'live' : 'down', `live · ${up}/${this.nodes.length} nodes streaming`);
          } catch { /* ignore */ }
          return;
        }
        let d;
        try { d = JSON.parse(m.data); } catch { return; }
        const ev = d && (d.event || (d.eventType ? d : null));
        if (ev) this.feed.add(ev, { position: d.position });
      },
      onState: (state, status, msg) => {
        switch (state) {
          case 'live': show('live', this.mode === 'lane' ? 'live' : 'live'); $('feed-note').textContent = ''; break;
          case 'connecting': break;
          case 'reconnecting': show('down', 'stream interrupted, reconnecting…'); break;
          case 'unavailable':
            show('polling', 'polling (no event stream)');
            $('feed-note').textContent = 'The node does not serve /v1/stream (not available): showing holds and releases, polled every few seconds.';
            this.every(EVERY.fallback, () => this.pollExceptions());
            break;
          case 'refused':
            show('down', 'stream refused');
            $('feed-note').textContent = `The event stream was refused (${status}): ${msg}`;
            break;
        }
      },
    }).start();
    this.streams.push(s);
  }

  // backfill loads what happened before the page opened and matters now:
  // holds and releases, and re-allocations recorded by the centres.
  async backfill() {
    await this.pollExceptions();
    await this.each(async (node) => {
      if (this.mode === 'lane' && !(node.party.roles || []).includes('warehouse')) return;
      const q = new URLSearchParams({ eventType: 'INVENTORY', limit: '1000' });
      if (this.mode === 'lane') q.set('origin', node.id);
      const page = await this.api.json(node, `/v1/events?${q}`);
      for (const r of page.events || []) {
        if (r.event && r.event.inventoryEventTypeCode === 'RALC') this.feed.add(r.event, { backfill: true });
      }
      this.allocations.render();
    });
  }

  async pollExceptions() {
    await this.each(async (node) => {
      for (const code of ['HOLD', 'RELS']) {
        const q = new URLSearchParams({ eventType: 'SHIPMENT', shipmentEventTypeCode: code, limit: '200' });
        if (this.mode === 'lane') q.set('origin', node.id);
        const page = await this.api.json(node, `/v1/events?${q}`);
        for (const r of page.events || []) if (r.event) this.feed.add(r.event, { backfill: true });
      }
    });
  }

  // --- links and the map ------------------------------------------------

  async pollLinks() {
    await this.each(async (node) => {
      try {
        const ans = await this.api.json(node, '/v1/links');
        this.linkStatus.set(node.id, ans.links || []);
        this.reach.set(node.id, { ok: true, detail: 'answering' });
      } catch (err) {
        // The last links it reported stay drawn, greyed: their state is
        // no longer known.
        this.reach.set(node.id, { ok: err.status !== 0 && err.status !== 502 && err.status !== 503 && err.status !== 504, detail: err.message });
        if (err.refused) this.reach.set(node.id, { ok: true, detail: `links not readable: ${err.message}` });
      }
    });
    this.renderLinks();
  }

  renderLinks() {
    const links = [];
    const seenPeers = new Set();
    for (const node of this.nodes) {
      const reach = this.reach.get(node.id);
      const list = this.linkStatus.get(node.id);
      if (!list) continue;
      let maxLag = 0;
      for (const st of list) {
        seenPeers.add(st.peer);
        const k = `${node.id}>${st.peer}`;
        const lagPolls = st.connected && st.lagEntries > 0 ? (this.lagPolls.get(k) || 0) + 1 : 0;
        this.lagPolls.set(k, lagPolls);
        const secs = this.lagSeconds.get(k);
        maxLag = Math.max(maxLag, st.lagEntries || 0);
        let health = 'ok';
        let label = '';
        if (!st.connected) {
          health = st.lastError ? 'down' : 'unknown';
          label = st.lastError ? (/refused a frame|answered 4\d\d|certificate|tls:|unauthori|forbidden/i.test(st.lastError) ? 'refused' : 'down') : '';
        } else if ((secs !== undefined && secs >= 2) || lagPolls >= 3) {
          health = 'lag';
          label = `lag ${compact(st.lagEntries)}${secs !== undefined ? ` · ${secs.toFixed(1)} s` : ''}`;
        }
        if (reach && !reach.ok) { health = 'unknown'; label = ''; }
        const parts = [`${this.name(node.id)} → ${this.name(st.peer)}: ${health === 'ok' ? 'up to date' : health === 'lag' ? 'lagging' : health === 'down' ? 'down' : 'state not known'}`];
        parts.push(`${st.lagEntries ?? '?'} entries behind${secs !== undefined ? ` (${secs.toFixed(1)} s)` : ''}`);
        if (st.cursor >= 0) parts.push(`${this.name(st.peer)} has verified ${st.cursor} entries of ${this.name(node.id)}'s log`);
        if (st.replicaSize) parts.push(`${this.name(node.id)} holds ${st.replicaSize} entries of ${this.name(st.peer)}'s log`);
        if (st.lastSent) parts.push(`last frame ${st.lastSent}`);
        if (st.lastError) parts.push(`error: ${st.lastError}`);
        links.push({ from: node.id, to: st.peer, health, label, title: parts.join('\n') });
      }
      this.figures.update(node.id, { lagEntries: maxLag });
    }
    // Partners that are not nodes here still appear, so every link has ends.
    let added = false;
    for (const p of seenPeers) {
      if (!this.parties.has(p) && !this.extraNodes.has(p)) { this.extraNodes.set(p, { id: p, name: p }); added = true; }
      else if (this.parties.has(p) && !this.nodes.some((n) => n.id === p) && !this.extraNodes.has(p)) { this.extraNodes.set(p, this.parties.get(p)); added = true; }
    }
    if (added) this.drawNodes();
    this.map.setLinks(links);
    for (const node of this.nodes) {
      const r = this.reach.get(node.id);
      const open = this.alerts.openCount(node.id);
      const state = !r ? 'unknown' : !r.ok ? 'down' : open ? 'alert' : 'ok';
      this.map.setNodeState(node.id, state, !r ? 'state not known yet' : !r.ok ? `not answering: ${r.detail}` : open ? `${open} open alert${open > 1 ? 's' : ''}` : 'up');
      this.figures.update(node.id, { reachable: r ? r.ok : undefined, detail: r && r.detail });
    }
    for (const [id] of this.extraNodes) this.map.setNodeState(id, 'unknown', 'not a node of this dashboard: seen as a partner');
    const down = this.nodes.filter((n) => this.reach.get(n.id) && !this.reach.get(n.id).ok);
    if (down.length && down.length === this.nodes.length) {
      this.downBanner = true;
      this.banner(this.nodes.length === 1 ? `The node is not answering: ${this.reach.get(down[0].id).detail}` : 'No node is answering: is the lane running?');
    } else if (this.downBanner) {
      this.downBanner = false;
      this.banner('');
    }
    this.figures.render(this.nodes.map((n) => n.id));
  }

  // pollPeers reads the node's directory (admin only) for partners' sites.
  async pollPeers() {
    const node = this.nodes[0];
    if (!this.ask(node, '/v1/peers')) return;
    try {
      const ans = await this.api.json(node, '/v1/peers');
      let changed = false;
      for (const card of ans.peers || []) {
        if (!card.party) continue;
        const old = this.extraNodes.get(card.party.id);
        if (!old || old.location !== card.party.location || old.name !== card.party.name) { changed = true; }
        this.parties.set(card.party.id, card.party);
        this.extraNodes.set(card.party.id, card.party);
      }
      if (changed) this.drawNodes();
    } catch (err) {
      this.missed(node, '/v1/peers', err);
      if (err.refused && !this.peersNote) {
        this.peersNote = `Partners' sites and names come from the node's directory of peers, which needs an admin token (${err.message}).`;
        this.drawNodes();
      }
    }
  }

  // --- checkpoints and metrics ------------------------------------------

  async pollCheckpoints() {
    await this.each(async (node) => {
      const at = performance.now();
      try {
        const cp = await this.api.json(node, '/v1/log/checkpoint');
        this.figures.update(node.id, { size: cp.size, at, cosigners: cosignersOf(cp.checkpoint) });
      } catch (err) {
        if (err.status === 404) this.figures.update(node.id, { size: 0, at, cosigners: [] });
      }
    });
    this.figures.render(this.nodes.map((n) => n.id));
  }

  async pollMetrics() {
    let refused = 0, missing = 0;
    await this.each(async (node) => {
      if (!this.ask(node, '/metrics')) { refused++; return; }
      try {
        const text = await this.api.text(node, '/metrics');
        const f = { metrics: 'ok', ingested: 0 };
        for (const m of parseMetrics(text, METRICS)) {
          if (m.name === 'linkd_ingest_events_total') f.ingested += m.value;
          else if (m.name === 'linkd_link_lag_seconds') {
            this.lagSeconds.set(`${node.id}>${m.labels.peer}`, m.value);
            f.lagSeconds = Math.max(f.lagSeconds || 0, m.value);
          } else if (m.name === 'linkd_link_lag_entries') f.lagEntries = Math.max(f.lagEntries || 0, m.value);
        }
        this.figures.update(node.id, f);
      } catch (err) {
        this.missed(node, '/metrics', err);
        if (err.refused) { refused++; this.figures.update(node.id, { metrics: `metrics need an auditor or admin token: ${err.message}` }); }
        if (err.unavailable) { missing++; this.figures.update(node.id, { metrics: 'this node exports no metrics' }); }
      }
    });
    this.figures.setNote(refused ? 'Ingest counts and lag in seconds come from /metrics, which needs an auditor or admin token; log size and events/s come from checkpoints.' :
      missing ? 'Some nodes export no metrics (not available).' : '');
    this.figures.render(this.nodes.map((n) => n.id));
  }

  // --- alerts and allocations -------------------------------------------

  async pollAlerts() {
    let missing = 0;
    await this.each(async (node) => {
      if (!this.ask(node, '/v1/alerts')) { missing++; return; }
      try {
        const [a, h] = await Promise.all([this.api.json(node, '/v1/alerts'), this.api.json(node, '/v1/holds')]);
        this.alerts.set(node.id, a.alerts);
        this.alerts.setHolds(node.id, h.holds);
      } catch (err) {
        this.missed(node, '/v1/alerts', err);
        if (err.unavailable || err.refused) missing++;
      }
    });
    this.alerts.setNote(missing ? `${missing === this.nodes.length ? 'No node' : `${missing} node${missing > 1 ? 's' : ''}`} answered /v1/alerts (not available).` : '');
    this.alerts.render();
  }

  async pollAllocations() {
    let served = 0;
    await this.each(async (node) => {
      if (!this.ask(node, '/v1/allocations')) return;
      try {
        this.allocations.set(node.id, await this.api.json(node, '/v1/allocations'));
        served++;
      } catch (err) {
        this.missed(node, '/v1/allocations', err);
      }
    });
    this.allocations.setNote(served || this.allocations.byNode.size ? '' : 'No node serves /v1/allocations (not available): moves come from re-allocation events in the feed.');
    this.allocations.render();
  }

  showShipment(ref) {
    this.shipment.show(ref);
    $('ship-h').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
}

function countryOf(party) {
  if (!party) return '';
  if (party.location) return party.location.slice(0, 2);
  return (party.jurisdiction || []).find((j) => /^[A-Z]{2}$/.test(j) && j !== 'EU') || '';
}

// laneStreamURL is the proxy's merged stream, next to the nodes' bases:
// /nodes/<party> → /nodes/_all/v1/stream.
function laneStreamURL(nodes) {
  const base = nodes.length ? nodes[0].base : '/nodes/x';
  return base.replace(/[^/]+$/, '_all') + '/v1/stream';
}

function compact(x) {
  if (typeof x !== 'number') return '?';
  return x >= 10000 ? `${Math.round(x / 1000)}k` : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : String(x);
}

async function main() {
  let cfg, projection;
  try {
    [cfg, projection] = await Promise.all([
      fetch('config.json', { cache: 'no-store' }).then((r) => { if (!r.ok) throw new Error(`config.json: ${r.status}`); return r.json(); }),
      fetch('projection.json').then((r) => { if (!r.ok) throw new Error(`projection.json: ${r.status}`); return r.json(); }),
    ]);
  } catch (err) {
    const b = $('banner');
    b.textContent = `The dashboard could not load its configuration: ${err.message}`;
    b.hidden = false;
    return;
  }
  const app = new App(cfg, projection);
  window.linkdDashboard = app; // for the browser test and curious operators
  await app.start();
}

main();
