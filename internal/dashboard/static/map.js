// The network map: nodes at their sites on the offline world map, links
// between them coloured by health. Nodes that share a port (customs and a
// distribution centre in Hamburg) are pushed apart just enough to tell
// apart, with a leader line to the true site.

import { makeProjection } from './projection.js';
import { place } from './places.js';

const SVG = 'http://www.w3.org/2000/svg';
const R = 11; // node disc radius, viewBox units

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const GLYPHS = { shipper: 'SH', consignee: 'CO', forwarder: 'FF', carrier: 'CA', terminal: 'TM', customs: 'CU', warehouse: 'DC' };

export class NetworkMap {
  constructor(svg, params) {
    this.svg = svg;
    this.params = params;
    this.project = makeProjection(params);
    this.width = params.width;
    this.height = params.height;
    svg.setAttribute('viewBox', `0 0 ${this.width} ${this.height}`);
    const img = svg.querySelector('image');
    img.setAttribute('width', this.width);
    img.setAttribute('height', this.height);
    this.gLinks = svg.querySelector('#map-links');
    this.gLeaders = svg.querySelector('#map-leaders');
    this.gNodes = svg.querySelector('#map-nodes');
    this.nodes = new Map(); // id → {id, name, roles, site, pos, area, g, self}
    if (params.inset) this.drawInset(params.inset);
    this.linkEls = new Map(); // "from>to" → path
    this.pulses = new Map();
  }

  // drawInset draws the larger-scale inset (the North Sea ports, where the
  // lane's European nodes crowd together), the window it magnifies on the
  // main map, and the lines joining them. Nodes inside the window are drawn
  // in the inset.
  drawInset(ip) {
    const [x, y] = ip.at;
    const w = ip.width, h = ip.height, win = ip.window;
    this.inset = { project: makeProjection(ip), x, y, w, h, win };
    const ring = [];
    for (let lon = win.west; lon <= win.east; lon += 1) ring.push([lon, win.north]);
    for (let lat = win.north; lat >= win.south; lat -= 1) ring.push([win.east, lat]);
    for (let lon = win.east; lon >= win.west; lon -= 1) ring.push([lon, win.south]);
    for (let lat = win.south; lat <= win.north; lat += 1) ring.push([win.west, lat]);
    const pts = ring.map(([lon, lat]) => this.project(lon, lat));
    // The connectors join the window's side nearer the inset to the inset.
    const right = x > this.project(win.east, win.north)[0];
    const a = this.project(right ? win.east : win.west, win.north), b = this.project(right ? win.east : win.west, win.south);
    const ix = right ? x : x + w;
    const g = el('g', { class: 'inset', 'data-testid': 'map-inset' });
    g.append(
      el('path', { class: 'inset-window', d: 'M' + pts.map((p) => p.map((v) => v.toFixed(1)).join(',')).join('L') + 'Z' }),
      el('line', { class: 'inset-connector', x1: a[0], y1: a[1], x2: ix, y2: y }),
      el('line', { class: 'inset-connector', x1: b[0], y1: b[1], x2: ix, y2: y + h }),
      el('image', { href: 'europe.svg', x, y, width: w, height: h }),
      el('rect', { class: 'inset-frame', x, y, width: w, height: h }),
      el('text', { class: 'inset-title', x: x + w - 6, y: y + 13, 'text-anchor': 'end' }, 'North Sea ports, enlarged'));
    this.svg.insertBefore(g, this.gLinks);
  }

  // siteOf returns where a place is drawn: [x, y] and the area ('inset' or
  // 'main'), or null when it is off the map.
  siteOf(p) {
    const i = this.inset;
    if (i && p.lon >= i.win.west && p.lon <= i.win.east && p.lat >= i.win.south && p.lat <= i.win.north) {
      const [x, y] = i.project(p.lon, p.lat);
      return { xy: [i.x + x, i.y + y], area: 'inset' };
    }
    const [x, y] = this.project(p.lon, p.lat);
    if (x >= 0 && x <= this.width && y >= 0 && y <= this.height) return { xy: [x, y], area: 'main' };
    return null;
  }

  // bounds is the box a node of an area must stay in.
  bounds(area) {
    const i = this.inset;
    if (area === 'inset' && i) return [i.x + R, i.y + R, i.x + i.w - R, i.y + i.h - R];
    return [R, R, this.width - R, this.height - R];
  }

  // setNodes places the nodes: [{id, name, roles, location, country, self}].
  // Nodes without a known site line up along the bottom edge.
  setNodes(list) {
    const key = JSON.stringify(list.map((n) => [n.id, n.name, n.location, n.country, n.self]));
    if (key === this.nodesKey) return;
    this.nodesKey = key;
    this.nodes.clear();
    this.gNodes.replaceChildren();
    this.gLeaders.replaceChildren();
    this.gLinks.replaceChildren();
    this.linkEls.clear();
    let unplaced = 0;
    for (const n of list) {
      const p = place(n.location, n.country);
      const at = p ? this.siteOf(p) : null;
      const site = at ? at.xy : null;
      const pos = site ? [...site] : [this.width * 0.4 + unplaced++ * 2.6 * R * 2, this.height - 24];
      this.nodes.set(n.id, { ...n, site, pos, area: at ? at.area : 'main', placed: !!site, exact: p && p.exact });
    }
    this.declutter();
    this.placeLabels();
    for (const n of this.nodes.values()) this.drawNode(n);
  }

  // declutter pushes overlapping discs apart, pulling each back towards its
  // site; deterministic, so the map looks the same on every load.
  declutter() {
    const ns = [...this.nodes.values()].filter((n) => n.placed);
    const min = 2 * R + 10;
    for (let iter = 0; iter < 300; iter++) {
      let moved = false;
      for (let i = 0; i < ns.length; i++) {
        for (let j = i + 1; j < ns.length; j++) {
          const a = ns[i], b = ns[j];
          if (a.area !== b.area) continue;
          let dx = b.pos[0] - a.pos[0], dy = b.pos[1] - a.pos[1];
          let d = Math.hypot(dx, dy);
          if (d >= min) continue;
          if (d < 0.01) { // same site: fan out by index
            const ang = (j * 2.399963) % (2 * Math.PI);
            dx = Math.cos(ang); dy = Math.sin(ang); d = 1;
          }
          const push = (min - d) / 2;
          a.pos[0] -= (dx / d) * push; a.pos[1] -= (dy / d) * push;
          b.pos[0] += (dx / d) * push; b.pos[1] += (dy / d) * push;
          moved = true;
        }
      }
      for (const n of ns) {
        n.pos[0] += (n.site[0] - n.pos[0]) * 0.02;
        n.pos[1] += (n.site[1] - n.pos[1]) * 0.02;
        const [x0, y0, x1, y1] = this.bounds(n.area);
        n.pos[0] = Math.min(x1, Math.max(x0, n.pos[0]));
        n.pos[1] = Math.min(y1, Math.max(y0, n.pos[1]));
      }
      if (!moved && iter > 10) break;
    }
  }

  // placeLabels puts each node's name where it overlaps the fewest other
  // names and discs and stays on the map: greedy, most crowded node first.
  placeLabels() {
    const ns = [...this.nodes.values()];
    const charW = 6.3, lineH = 12;
    const cands = [
      [R + 4, 4, 'start'], [-(R + 4), 4, 'end'], [0, -(R + 5), 'middle'], [0, R + 14, 'middle'],
      [R + 2, -(R - 1), 'start'], [-(R + 2), -(R - 1), 'end'], [R + 2, R + 9, 'start'], [-(R + 2), R + 9, 'end'],
    ];
    const box = (n, [dx, dy, anchor]) => {
      const w = (n.name || n.id).length * charW;
      const x0 = n.pos[0] + dx - (anchor === 'end' ? w : anchor === 'middle' ? w / 2 : 0);
      return [x0, n.pos[1] + dy - lineH + 3, x0 + w, n.pos[1] + dy + 3];
    };
    const overlap = (a, b) => Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
    const discs = ns.map((n) => [n.pos[0] - R - 1, n.pos[1] - R - 1, n.pos[0] + R + 1, n.pos[1] + R + 1]);
    const crowd = (n) => ns.filter((m) => m !== n && Math.hypot(m.pos[0] - n.pos[0], m.pos[1] - n.pos[1]) < 120).length;
    const placed = [];
    for (const n of [...ns].sort((a, b) => crowd(b) - crowd(a) || a.id.localeCompare(b.id))) {
      let best = null, bestCost = Infinity;
      cands.forEach((c, i) => {
        const b = box(n, c);
        let cost = i * 0.5; // prefer right, then left, then above and below
        for (const p of placed) cost += overlap(b, p) * 4;
        for (const d of discs) cost += overlap(b, d) * 2;
        cost += (Math.max(0, -b[0]) + Math.max(0, b[2] - this.width) + Math.max(0, -b[1]) + Math.max(0, b[3] - this.height)) * 50;
        if (cost < bestCost) { bestCost = cost; best = c; }
      });
      placed.push(box(n, best));
      n.labelAt = { x: best[0], y: best[1], anchor: best[2] };
    }
  }

  drawNode(n) {
    const [x, y] = n.pos;
    if (n.site && Math.hypot(x - n.site[0], y - n.site[1]) > 3) {
      this.gLeaders.append(el('line', { class: 'leader', x1: n.site[0], y1: n.site[1], x2: x, y2: y }));
      this.gLeaders.append(el('circle', { class: 'site', cx: n.site[0], cy: n.site[1], r: 2 }));
    }
    const g = el('g', { class: 'map-node unknown' + (n.self ? ' self' : ''), 'data-testid': `node-${n.id}`, 'data-party': n.id, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` });
    const title = el('title', {}, this.nodeTitle(n, 'state not known yet'));
    const glyph = (n.roles || []).map((r) => GLYPHS[r]).find(Boolean) || n.id.slice(0, 2).toUpperCase();
    g.append(title, el('circle', { class: 'disc', r: n.self ? R + 2 : R }), el('text', { class: 'glyph' }, glyph));
    const lp = n.labelAt || { x: R + 4, y: 4, anchor: 'start' };
    g.append(el('text', { class: 'label', x: lp.x, y: lp.y, 'text-anchor': lp.anchor }, n.name || n.id));
    n.g = g;
    n.title = title;
    this.gNodes.append(g);
  }

  nodeTitle(n, state) {
    const where = n.location ? `${n.location}${n.placed && !n.exact ? ' (country only)' : ''}` : 'site unknown';
    return `${n.name || n.id} (${n.id})\n${(n.roles || []).join(', ')} · ${where}\n${state}`;
  }

  // setNodeState colours a node: ok, down, alert or unknown; detail goes
  // in its tooltip.
  setNodeState(id, state, detail) {
    const n = this.nodes.get(id);
    if (!n || !n.g) return;
    for (const s of ['ok', 'down', 'alert', 'unknown']) n.g.classList.toggle(s, s === state);
    n.g.dataset.state = state;
    n.title.textContent = this.nodeTitle(n, detail || state);
  }

  // pulse flashes a node when an event of its log arrives.
  pulse(id, cls = 'pulse') {
    const n = this.nodes.get(id);
    if (!n || !n.g) return;
    const k = id + cls;
    if (this.pulses.has(k)) return;
    n.g.classList.add(cls);
    this.pulses.set(k, setTimeout(() => { n.g.classList.remove(cls); this.pulses.delete(k); }, cls === 'hold' ? 8000 : 450));
  }

  // setLinks draws directed links [{from, to, health, label, title}]: from
  // and to must be nodes; health is ok, lag, down or unknown. The two
  // directions of a pair bend to opposite sides.
  setLinks(links) {
    const want = new Set();
    for (const l of links) {
      const a = this.nodes.get(l.from), b = this.nodes.get(l.to);
      if (!a || !b || a === b) continue;
      const k = `${l.from}>${l.to}`;
      want.add(k);
      let e = this.linkEls.get(k);
      if (!e) {
        const path = el('path', { 'data-testid': `link-${l.from}-${l.to}`, 'data-from': l.from, 'data-to': l.to, d: curve(a.pos, b.pos) });
        const title = el('title');
        path.append(title);
        const label = el('text', { class: 'link-label' });
        e = { path, title, label, mid: midpoint(a.pos, b.pos) };
        this.gLinks.append(path, label);
        this.linkEls.set(k, e);
      }
      if (e.health !== l.health) {
        e.path.setAttribute('class', `map-link ${l.health}`);
        e.path.dataset.health = l.health;
        e.label.setAttribute('class', `link-label ${l.health}`);
        e.health = l.health;
      }
      e.title.textContent = l.title;
      const text = l.label || '';
      if (e.label.textContent !== text) {
        e.label.textContent = text;
        e.label.setAttribute('x', e.mid[0].toFixed(1));
        e.label.setAttribute('y', e.mid[1].toFixed(1));
      }
    }
    for (const [k, e] of this.linkEls) {
      if (!want.has(k)) { e.path.remove(); e.label.remove(); this.linkEls.delete(k); }
    }
  }
}

// curve is a quadratic path from a to b bending to the left of the
// direction of travel, so a→b and b→a are two distinct arcs.
function curve(a, b) {
  const [cx, cy] = control(a, b);
  return `M${a[0].toFixed(1)},${a[1].toFixed(1)} Q${cx.toFixed(1)},${cy.toFixed(1)} ${b[0].toFixed(1)},${b[1].toFixed(1)}`;
}

function control(a, b) {
  const mx = (a[0] + b[0]) / 2, my = (a[1] + b[1]) / 2;
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const len = Math.hypot(dx, dy) || 1;
  const off = Math.min(60, 0.12 * len + 6);
  return [mx + (dy / len) * off, my - (dx / len) * off];
}

function midpoint(a, b) {
  const [cx, cy] = control(a, b);
  return [0.25 * a[0] + 0.5 * cx + 0.25 * b[0], 0.25 * a[1] + 0.5 * cy + 0.25 * b[1]];
}
