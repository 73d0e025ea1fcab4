// Allocations: each distribution centre's stock per SKU, and the orders
// moved from one centre to another (a customs hold on the inbound shipment
// makes Hamburg re-allocate its orders to Rotterdam and Antwerp). Reads GET
// /v1/allocations where nodes serve it, and RALC events from the feed
// everywhere; renders rows generically so added fields show up.

const n = (x) => (typeof x === 'number' ? x.toLocaleString('en') : String(x ?? ''));

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const STOCK_COLUMNS = ['onHand', 'allocated', 'available'];
const LABELS = { onHand: 'on hand', allocated: 'allocated', available: 'available', inbound: 'inbound', reserved: 'reserved' };

export class Allocations {
  constructor({ moves, movesEmpty, stock, note, name }) {
    this.movesEl = moves;
    this.movesEmpty = movesEmpty;
    this.stockEl = stock;
    this.note = note;
    this.name = name;
    this.byNode = new Map(); // node → answer
    this.eventMoves = new Map(); // orderID → move from a RALC event
    this.lastKey = '';
  }

  set(node, answer) { this.byNode.set(node, answer || {}); }

  // fromEvent records a re-allocation seen in the feed.
  fromEvent(ev) {
    if (ev.eventType !== 'INVENTORY' || ev.inventoryEventTypeCode !== 'RALC' || !ev.inventory) return;
    const inv = ev.inventory;
    this.eventMoves.set(inv.orderID || ev.eventID, {
      orderID: inv.orderID, sku: inv.sku, quantity: inv.quantity, facility: inv.facility, fromFacility: inv.fromFacility,
      shipment: ev.carrierBookingReference || ev.transportDocumentReference || ev.equipmentReference || '', at: ev.eventDateTime,
    });
  }

  render() {
    // Stock rows, one per centre and SKU; a centre's own node knows best.
    const stock = new Map();
    const orders = new Map();
    const holds = [];
    for (const [node, a] of this.byNode) {
      for (const f of list(a.facilities)) {
        const k = `${f.facility}\u0000${f.sku}`;
        if (!stock.has(k) || f.facility === node) stock.set(k, f);
      }
      for (const o of list(a.orders)) {
        const k = o.orderID || o.id || JSON.stringify(o);
        if (!orders.has(k) || o.facility === node) orders.set(k, o);
      }
      for (const x of list(a.holds)) holds.push(x);
    }
    const moves = new Map();
    for (const [k, m] of this.eventMoves) moves.set(k, m);
    for (const [k, o] of orders) {
      if (o.fromFacility && o.fromFacility !== o.facility) moves.set(o.orderID || k, { ...moves.get(o.orderID || k), ...o });
    }
    const key = JSON.stringify([[...stock.values()], [...moves.values()], holds]);
    if (key === this.lastKey) return;
    this.lastKey = key;

    const ms = [...moves.values()].sort((a, b) => String(a.fromFacility).localeCompare(String(b.fromFacility)) || String(a.orderID).localeCompare(String(b.orderID)));
    this.movesEl.replaceChildren(...ms.map((m) => h('li', { class: 'allocation-move', 'data-testid': 'allocation-move', 'data-order': m.orderID || '', 'data-from': m.fromFacility || '', 'data-to': m.facility || '' },
      h('strong', {}, `Order ${m.orderID || '?'}`),
      ` · ${n(m.quantity)} × ${m.sku || '?'} · `,
      this.name(m.fromFacility), h('span', { class: 'arrow' }, '→'), this.name(m.facility),
      m.shipment ? h('span', { class: 'muted' }, ` · shipment ${m.shipment}`) : null,
      m.status ? h('span', { class: 'muted' }, ` · ${String(m.status).toLowerCase()}`) : null)));
    this.movesEmpty.hidden = ms.length > 0;

    const rows = [...stock.values()].sort((a, b) => String(a.facility).localeCompare(String(b.facility)) || String(a.sku).localeCompare(String(b.sku)));
    if (!rows.length) {
      this.stockEl.replaceChildren();
    } else {
      const extra = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'facility' && k !== 'sku' && !STOCK_COLUMNS.includes(k) && isScalar(rows, k));
      const cols = [...STOCK_COLUMNS.filter((c) => rows.some((r) => c in r)), ...extra];
      const table = h('table', { 'data-testid': 'allocation-stock' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Centre'), h('th', {}, 'SKU'), ...cols.map((c) => h('th', { class: 'num' }, LABELS[c] || c)))),
        h('tbody', {}, ...rows.map((r) => h('tr', { 'data-facility': r.facility, 'data-sku': r.sku },
          h('td', {}, this.name(r.facility)), h('td', { class: 'mono' }, r.sku),
          ...cols.map((c) => h('td', { class: 'num' + (c === 'available' ? (r[c] <= 0 ? ' out' : r[c] < 0.1 * (r.onHand || 0) ? ' low' : '') : '') }, n(r[c])))))));
      this.stockEl.replaceChildren(table);
    }
    if (holds.length) {
      this.stockEl.append(h('h3', {}, 'Held inbound shipments'),
        h('ul', {}, ...holds.map((x) => h('li', { class: 'small' }, typeof x === 'object' ? Object.entries(x).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ') : String(x)))));
    }
  }

  setNote(text) { this.note.textContent = text; }
}

function list(x) { return Array.isArray(x) ? x : []; }
function isScalar(rows, k) { return rows.every((r) => !(k in r) || ['number', 'string', 'boolean'].includes(typeof r[k])); }
