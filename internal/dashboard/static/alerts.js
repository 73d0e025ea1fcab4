// Alerts and log holds, merged from every node: critical first, then
// newest. An equivocation (a log that signed two histories) is shown with
// its evidence, the two signed checkpoints, above everything else.

import { formatTime, partyOf } from './words.js';

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// decodeNote turns a base64 signed note into its text, "" if it is not one.
export function decodeNote(b64) {
  if (!b64) return '';
  try {
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    return new TextDecoder().decode(bytes);
  } catch { return String(b64); }
}

// checkpointSummary reads "origin\nsize\nroot\n\n— signer sig…" into parts.
export function checkpointSummary(note) {
  const [body, sigs = ''] = note.split('\n\n');
  const [origin = '', size = '', root = ''] = body.split('\n');
  const signers = sigs.split('\n').filter((l) => l.startsWith('— ')).map((l) => l.slice(2).split(' ')[0]);
  return { origin, size, root, signers };
}

const KIND_TITLES = {
  equivocation: 'Equivocation: a log signed two histories',
  verification_failed: 'Verification failed',
  residency_violation: 'Residency violation',
  peer_unreachable: 'Peer unreachable',
  entitlement_violation: 'Entitlement violation',
  key_compromise: 'Key compromise',
};


export class Alerts {
  constructor({ root, list, holds, equivocations, empty, note, name }) {
    this.root = root;
    this.list = list;
    this.holdsEl = holds;
    this.equivocations = equivocations;
    this.empty = empty;
    this.note = note;
    this.name = name;
    this.byNode = new Map(); // node → alerts
    this.holdsByNode = new Map();
    this.lastKey = '';
  }

  set(node, alerts) { this.byNode.set(node, alerts || []); }
  setHolds(node, holds) { this.holdsByNode.set(node, (holds || []).filter((x) => !x.released)); }

  // openCount is the number of open alerts per node, for the map.
  openCount(node) { return (this.byNode.get(node) || []).filter((a) => !a.acknowledged).length; }

  render() {
    const all = [];
    for (const [node, alerts] of this.byNode) for (const a of alerts) all.push({ node, a });
    const holds = [];
    for (const [node, hs] of this.holdsByNode) for (const x of hs) holds.push({ node, x });
    const key = JSON.stringify([all.map(({ node, a }) => [node, a.id, a.count, a.lastSeen, a.acknowledged]), holds.map(({ node, x }) => [node, x.log, x.since])]);
    if (key === this.lastKey) return;
    this.lastKey = key;
    all.sort((p, q) => (sev(q.a) - sev(p.a)) || String(q.a.lastSeen || q.a.raised).localeCompare(String(p.a.lastSeen || p.a.raised)));

    this.equivocations.replaceChildren(...all.filter(({ a }) => a.kind === 'equivocation' && a.evidence && !a.acknowledged).map(({ node, a }) => this.evidence(node, a)));
    this.list.replaceChildren(...all.map(({ node, a }) => this.item(node, a)));
    this.holdsEl.replaceChildren(...holds.map(({ node, x }) => h('li', { class: 'alert-item critical', 'data-testid': 'log-hold' },
      h('span', { class: 'kind' }, 'Log held: '),
      `${this.name(node)} stopped accepting new entries of ${this.name(partyOf(x.log))}'s log`,
      h('div', { class: 'meta' }, `since ${formatTime(x.since)} · ${x.reason || ''}${x.alertId ? ' · alert ' + x.alertId : ''}`))));
    this.empty.hidden = all.length + holds.length > 0;
  }

  item(node, a) {
    return h('li', { class: `alert-item ${a.severity === 'critical' ? 'critical' : 'warning'}`, 'data-testid': 'alert-item', 'data-kind': a.kind, 'data-severity': a.severity, 'data-node': node },
      h('span', { class: 'kind' }, KIND_TITLES[a.kind] || a.kind),
      a.peer ? ` · peer ${this.name(a.peer)}` : '',
      h('div', {}, a.message || ''),
      h('div', { class: 'meta' }, `seen by ${this.name(node)} · ${a.severity} · since ${formatTime(a.raised)}${a.count > 1 ? ` · ×${a.count}, last ${formatTime(a.lastSeen)}` : ''}${a.acknowledged ? ` · acknowledged by ${a.ackBy || '?'}` : ''}`));
  }

  evidence(node, a) {
    const ev = a.evidence;
    const accused = this.name(partyOf(ev.origin || a.log));
    const side = (label, b64) => {
      const text = decodeNote(b64);
      const s = checkpointSummary(text);
      return h('div', {}, h('div', { class: 'small' }, `${label}: size ${s.size}, signed by ${s.signers.map((x) => this.name(partyOf(x))).join(', ') || '?'}`), h('pre', {}, text.trim()));
    };
    return h('div', { class: 'evidence', 'data-testid': 'equivocation-evidence', 'data-log': ev.origin || a.log || '' },
      h('h3', {}, `⚠ ${accused} signed two histories of its log`),
      h('p', { class: 'small' }, `Caught by ${this.name(ev.observedBy || node)}${ev.from ? ` from a checkpoint sent by ${this.name(ev.from)}` : ''} at ${formatTime(ev.observed || a.raised)}. ` +
        `${ev.proof && ev.proof.length ? `B's tree implies root ${ev.impliedRoot} at A's size, not A's root (consistency proof of ${ev.proof.length} hashes).` : 'Same size, different roots.'} ` +
        `${this.name(node)} holds this log until an operator acts; anyone with the log's key can check this evidence offline with linkd verify.`),
      h('div', { class: 'pair' }, side('Checkpoint A', ev.a), side('Checkpoint B', ev.b)));
  }

  setNote(text) { this.note.textContent = text; }
}

function sev(a) { return (a.acknowledged ? 0 : 2) + (a.severity === 'critical' ? 1 : 0); }
