// The live event feed: newest on top, one plain-language line per event,
// coloured by family; holds, releases and re-allocations also stay in an
// "Exceptions" list so a busy lane cannot scroll them away. Rendering is
// batched a few times a second so thousands of events a second cost little.

import { describe, EXCEPTIONS, formatTime } from './words.js';

const MAX_LATEST = 60;
const MAX_EXCEPTIONS = 100;
const MAX_SEEN = 50000;

export class Feed {
  constructor({ latest, exceptions, exceptionsEmpty, rate, name, onSelect }) {
    this.latestEl = latest;
    this.exceptionsEl = exceptions;
    this.exceptionsEmpty = exceptionsEmpty;
    this.rateEl = rate;
    this.name = name;
    this.onSelect = onSelect;
    this.seen = new Set();
    this.pending = [];
    this.timer = null;
    this.count = 0;
    this.rate = 0;
    this.listeners = [];
    setInterval(() => this.tickRate(), 2000);
    const click = (e) => {
      const li = e.target.closest('[data-ref]');
      if (li) this.onSelect(li.dataset.ref);
    };
    latest.addEventListener('click', click);
    exceptions.addEventListener('click', click);
  }

  // onEvent registers f(event, description) for every new event.
  onEvent(f) { this.listeners.push(f); }

  // add takes an event (a linkd Event object) once; later copies of the
  // same event (from another node, or a replay) are dropped.
  add(ev, { position, backfill = false } = {}) {
    const key = ev.eventID || (position ? `${position.origin}#${position.index}` : JSON.stringify(ev));
    if (this.seen.has(key)) return false;
    if (this.seen.size >= MAX_SEEN) this.seen.clear();
    this.seen.add(key);
    const d = describe(ev, this.name);
    if (!backfill) this.count++;
    for (const f of this.listeners) f(ev, d);
    this.pending.push({ ev, d, backfill });
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 250);
    return true;
  }

  flush() {
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    // Newest on top: the last arrived goes first. Backfilled exceptions are
    // ordered by event time instead, as they come from a query.
    const live = batch.filter((b) => !b.backfill);
    const back = batch.filter((b) => b.backfill).sort((x, y) => String(x.ev.eventDateTime).localeCompare(String(y.ev.eventDateTime)));
    const latestFrag = document.createDocumentFragment();
    const exFrag = document.createDocumentFragment();
    for (const b of [...live].reverse().slice(0, MAX_LATEST)) latestFrag.append(this.item(b.ev, b.d, true));
    for (const b of [...back, ...live].reverse()) {
      if (EXCEPTIONS.has(b.d.code)) exFrag.append(this.item(b.ev, b.d, !b.backfill));
    }
    this.latestEl.prepend(latestFrag);
    this.exceptionsEl.prepend(exFrag);
    trim(this.latestEl, MAX_LATEST);
    trim(this.exceptionsEl, MAX_EXCEPTIONS);
    this.exceptionsEmpty.hidden = this.exceptionsEl.childElementCount > 0;
  }

  item(ev, d, fresh) {
    const li = document.createElement('li');
    li.className = `feed-item fam-${d.family} code-${d.code}` + (fresh ? ' fresh' : '') + (ev.retractedEventID ? ' retraction' : '');
    li.setAttribute('data-testid', 'feed-item');
    li.dataset.code = d.code;
    li.dataset.family = d.family;
    li.dataset.origin = ev.origin || '';
    if (ev.eventID) li.dataset.eventId = ev.eventID;
    if (d.ref) li.dataset.ref = d.ref;
    if (d.code === 'RALC' && ev.inventory) {
      li.dataset.from = ev.inventory.fromFacility || '';
      li.dataset.to = ev.inventory.facility || '';
    }
    const t = document.createElement('time');
    t.dateTime = ev.eventDateTime || '';
    t.textContent = formatTime(ev.eventDateTime);
    const text = document.createElement('span');
    text.textContent = d.text;
    li.title = `${ev.eventType} ${d.code} · ${ev.eventClassifierCode || ''} · recorded by ${ev.origin || '?'}${d.ref ? ' · click to show the shipment' : ''}`;
    li.append(t, text);
    return li;
  }

  tickRate() {
    this.rate = this.count / 2;
    this.count = 0;
    this.rateEl.textContent = this.rate ? `· ${this.rate >= 10 ? Math.round(this.rate) : this.rate.toFixed(1)} events/s` : '';
  }
}

function trim(list, max) {
  while (list.childElementCount > max) list.lastElementChild.remove();
}
