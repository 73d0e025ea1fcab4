// The shipment view: look a booking, B/L or container up, show the merged
// timeline a node holds (time, origin, what, where) and, for each event,
// where it sits in its origin's log and which checkpoint, signed by whom and
// cosigned by which witnesses, proves it.

import { describe, eventPlace, formatTime, partyOf } from './words.js';

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const STATUS_WORDS = { ON_HOLD: 'on hold', IN_TRANSIT: 'in transit', GATED_IN: 'gated in', GATED_OUT: 'gated out', PARTLY_DELIVERED: 'partly delivered' };

export class ShipmentView {
  constructor({ api, form, input, nodeSelect, nodeLabel, state, table, nodes, name }) {
    this.api = api;
    this.input = input;
    this.nodeSelect = nodeSelect;
    this.nodeLabel = nodeLabel;
    this.stateEl = state;
    this.table = table;
    this.tbody = table.querySelector('tbody');
    this.nodes = nodes; // () → [{id, base, …}]
    this.name = name;
    this.seq = 0;
    this.views = new Map();
    form.addEventListener('submit', (e) => { e.preventDefault(); this.show(this.input.value.trim()); });
    nodeSelect.addEventListener('change', () => this.render(this.nodeSelect.value));
  }

  // show looks ref up on every node and shows the fullest view.
  async show(ref) {
    if (!ref) return;
    this.input.value = ref;
    if (location.hash !== `#shipment=${encodeURIComponent(ref)}`) history.replaceState(null, '', `#shipment=${encodeURIComponent(ref)}`);
    const seq = ++this.seq;
    this.ref = ref;
    this.stateEl.replaceChildren(h('p', { class: 'muted' }, `Looking up ${ref}…`));
    this.table.hidden = true;
    const nodes = this.nodes();
    const answers = await Promise.all(nodes.map(async (node) => {
      try {
        return { node, view: await this.api.json(node, `/v1/shipments/${encodeURIComponent(ref)}`, { urgent: true }) };
      } catch (err) {
        return { node, err };
      }
    }));
    if (seq !== this.seq) return; // a newer lookup started
    this.views = new Map();
    for (const a of answers) if (a.view) this.views.set(a.node.id, a);
    if (!this.views.size) {
      const refused = answers.find((a) => a.err && a.err.refused);
      const msg = refused ? `The node refused the lookup: ${refused.err.message}` :
        answers.every((a) => a.err && a.err.status === 404) ? `No node holds events that name ${ref} as a booking, B/L or container.` :
          `Could not look ${ref} up: ${answers.map((a) => `${this.name(a.node.id)}: ${a.err.message}`).join('; ')}`;
      this.stateEl.replaceChildren(h('p', { class: 'muted', 'data-testid': 'shipment-not-found' }, msg));
      this.nodeLabel.hidden = true;
      return;
    }
    const best = [...this.views.values()].sort((a, b) => (b.view.state?.events || 0) - (a.view.state?.events || 0))[0];
    this.nodeSelect.replaceChildren(...[...this.views.values()].map((a) => h('option', { value: a.node.id }, `${this.name(a.node.id)} (${a.view.state?.events ?? a.view.timeline?.length ?? 0} events)`)));
    this.nodeSelect.value = best.node.id;
    this.nodeLabel.hidden = nodes.length < 2;
    this.render(best.node.id);
  }

  render(nodeId) {
    const a = this.views.get(nodeId);
    if (!a) return;
    const { node, view } = a;
    const s = view.state || {};
    const holds = s.openHolds || [];
    const eta = s.eta ? `${s.eta.location} ${formatTime(s.eta.time)} (${s.eta.classifier})` : '—';
    const loc = s.lastLocation ? (s.lastLocation.locationName || s.lastLocation.UNLocationCode) : '—';
    this.stateEl.replaceChildren(
      h('div', { class: 'state-line' },
        h('span', {}, 'Status ', h('span', { class: `status ${s.status}`, 'data-testid': 'shipment-status' }, STATUS_WORDS[s.status] || String(s.status || 'unknown').toLowerCase().replace(/_/g, ' '))),
        s.statusSince ? h('span', { class: 'muted' }, `since ${formatTime(s.statusSince)}`) : null,
        h('span', {}, `Last seen ${loc}`),
        h('span', {}, `ETA ${eta}`),
        h('span', { class: 'muted' }, `${s.events ?? view.timeline?.length ?? 0} events as ${this.name(node.id)} holds them${view.truncated ? ' (truncated)' : ''}`)),
      holds.length ? h('div', { class: 'state-line' }, ...holds.map((x) => h('span', { class: 'status ON_HOLD', 'data-testid': 'shipment-hold' },
        `Held by ${this.name(x.origin)} since ${formatTime(x.since)}${x.reason ? ': ' + x.reason : ''}${x.equipmentReference ? ` (${x.equipmentReference})` : ''}`))) : null,
      s.parties && s.parties.length ? h('div', { class: 'small muted' }, 'Parties: ' + s.parties.map((p) => `${this.name(p.party)} (${p.role})`).join(', ')) : null);

    const rows = (view.timeline || []).map((entry) => this.row(node, entry));
    this.tbody.replaceChildren(...rows.map((r) => r.tr));
    this.table.hidden = false;
    this.verifyAll(node, rows);
  }

  row(node, entry) {
    const ev = entry.event || {};
    const d = describe(ev, this.name);
    const crossed = entry.retractedBy || entry.supersededBy;
    const ver = h('td', { class: 'verification', 'data-testid': 'verification', 'data-state': 'checking' }, 'checking…');
    const tr = h('tr', { class: `code-${d.code}${crossed ? ' retracted' : ''}`, 'data-testid': 'timeline-entry', 'data-event-id': ev.eventID || '', 'data-code': d.code },
      h('td', {}, h('time', { datetime: ev.eventDateTime || '' }, formatTime(ev.eventDateTime))),
      h('td', {}, this.name(ev.origin)),
      h('td', {}, d.what + (entry.retractedBy ? ' — retracted' : entry.supersededBy ? ' — superseded' : '')),
      h('td', {}, eventPlace(ev) || '—'),
      ver);
    return { tr, ver, entry, ev };
  }

  // verifyAll asks the node for each event's verification, a few at a time.
  async verifyAll(node, rows) {
    const seq = this.seq;
    let i = 0;
    const worker = async () => {
      while (i < rows.length && seq === this.seq) {
        const r = rows[i++];
        await this.verify(node, r);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
  }

  async verify(node, { ver, entry, ev }) {
    const pos = `${this.name(ev.origin)} log #${entry.logIndex}`;
    if (!ev.eventID) { setVer(ver, 'unavailable', `${pos} · no event id`); return; }
    try {
      const v = await this.api.json(node, `/v1/events/${encodeURIComponent(ev.eventID)}/verification`, { urgent: true });
      const cp = v.checkpoint || {};
      const cos = cp.cosignedBy || [];
      const parts = [
        `${this.name(partyOf(v.origin) || ev.origin)} log #${v.index ?? entry.logIndex}`,
        `checkpoint size ${cp.size ?? '?'}`,
        `signed by ${this.name(partyOf(cp.signedBy)) || '?'}`,
        cos.length ? `cosigned by ${cos.map((c) => this.name(partyOf(c))).join(', ')}` : 'no cosignatures yet',
      ];
      if (v.verified === true) setVer(ver, 'verified', '✓ verified · ' + parts.join(' · '), v);
      else setVer(ver, 'failed', '✗ does not verify · ' + parts.join(' · '), v);
    } catch (err) {
      if (err.status === 404) setVer(ver, 'unavailable', `${pos} · proof not available from this node`);
      else if (err.refused) setVer(ver, 'unavailable', `${pos} · the token may not read proofs`);
      else setVer(ver, 'unavailable', `${pos} · could not check: ${err.message}`);
    }
  }
}

function setVer(td, state, text, v) {
  td.dataset.state = state;
  td.className = `verification ${state}`;
  td.textContent = text;
  if (v && v.leafHash) td.title = `leaf hash ${v.leafHash}${v.checkpoint && v.checkpoint.rootHash ? `\nroot ${v.checkpoint.rootHash}` : ''}`;
}
