// Per-node figures: whether it answers, its log size and growth (events/s
// from successive polls), events ingested over HTTP, the worst lag of its
// links, and who cosigned its newest checkpoint.

import { checkpointSummary } from './alerts.js';
import { partyOf } from './words.js';

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) { if (k === 'class') e.className = v; else e.setAttribute(k, v); }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const n = (x) => (typeof x === 'number' && Number.isFinite(x) ? x.toLocaleString('en', { maximumFractionDigits: 1 }) : '—');

export class NodeFigures {
  constructor({ tbody, note, name }) {
    this.tbody = tbody;
    this.note = note;
    this.name = name;
    this.rows = new Map(); // node → {tr, cells, size history}
    this.data = new Map(); // node → figures
  }

  // update merges figures for a node: {reachable, detail, size, at, ingested,
  // lagEntries, lagSeconds, cosigners, metrics}.
  update(node, f) {
    const d = this.data.get(node) || { sizes: [] };
    Object.assign(d, f);
    if (typeof f.size === 'number') {
      d.sizes.push([f.at || performance.now(), f.size]);
      while (d.sizes.length > 6) d.sizes.shift(); // rate over the last ~10 s
      const [t0, s0] = d.sizes[0];
      const [t1, s1] = d.sizes[d.sizes.length - 1];
      d.rate = t1 > t0 ? ((s1 - s0) * 1000) / (t1 - t0) : undefined;
    }
    this.data.set(node, d);
  }

  get(node) { return this.data.get(node) || {}; }

  render(order) {
    for (const node of order) {
      let r = this.rows.get(node);
      if (!r) {
        const cells = Array.from({ length: 7 }, (_, i) => h('td', { class: i >= 2 && i <= 5 ? 'num' : undefined }));
        const tr = h('tr', { 'data-testid': `metrics-${node}`, 'data-party': node }, ...cells);
        this.tbody.append(tr);
        r = { tr, cells };
        this.rows.set(node, r);
      }
      const d = this.get(node);
      const [name, state, size, rate, ingested, lag, cos] = r.cells;
      name.textContent = this.name(node);
      name.title = node;
      state.textContent = d.reachable === undefined ? '…' : d.reachable ? 'up' : 'not answering';
      state.className = d.reachable === undefined ? '' : d.reachable ? 'state-ok' : 'state-down';
      state.title = d.detail || '';
      size.textContent = n(d.size);
      rate.textContent = d.rate === undefined ? '—' : n(Math.max(0, d.rate));
      ingested.textContent = d.metrics === 'ok' ? n(d.ingested) : d.metrics ? 'n/a' : '—';
      ingested.title = d.metrics && d.metrics !== 'ok' ? d.metrics : '';
      lag.textContent = d.lagEntries === undefined ? '—' : `${n(d.lagEntries)} entries` + (d.lagSeconds !== undefined ? ` · ${n(d.lagSeconds)} s` : '');
      cos.textContent = d.cosigners === undefined ? '—' : d.cosigners.length ? d.cosigners.map((c) => this.name(c)).join(', ') : 'none yet';
    }
  }

  setNote(text) { this.note.textContent = text; }
}

// cosignersOf reads the parties that cosigned a checkpoint note: every
// signer but the log itself (witness keys are named linkd.dev/witness/<party>).
export function cosignersOf(note) {
  const s = checkpointSummary(note || '');
  return s.signers.filter((x) => x !== s.origin).map(partyOf);
}
