// Generates the dashboard's offline world map from Natural Earth 110m
// (public domain, via the world-atlas package): land, country borders and a
// graticule, in d3-geo's Natural Earth 1 projection cropped to the lane from
// Vietnam to Europe. It writes
//
//   internal/dashboard/static/world.svg       the map
//   internal/dashboard/static/europe.svg      an inset of the North Sea ports, where
//                                             the lane's European nodes crowd together
//   internal/dashboard/static/projection.json both projections' parameters, so
//                                             the page places nodes on them
//
// and checks that static/projection.js (what the page uses) places points
// exactly where d3-geo does. Re-run with: npm ci && node generate.mjs

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { geoGraticule, geoMercator, geoNaturalEarth1, geoPath } from 'd3-geo';
import { feature, mesh } from 'topojson-client';
import { makeProjection } from '../../internal/dashboard/static/projection.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '../../internal/dashboard/static');
const require = (p) => JSON.parse(readFileSync(join(here, 'node_modules', p), 'utf8'));

// The window: Ireland and Iberia in the west, Java in the south-east,
// southern Scandinavia in the north. The rotation centres the projection
// between Europe and Vietnam so neither end leans.
const west = -11, east = 114, south = -7, north = 61;
const rotate = [-52, 0, 0];
const width = 1000;

const topo = require('world-atlas/countries-110m.json');
const land = feature(topo, topo.objects.land);
const borders = mesh(topo, topo.objects.countries, (a, b) => a !== b);

// Fit the window's outline (sampled, since its edges curve) to the width.
const edge = [];
for (let lon = west; lon <= east; lon += 1) edge.push([lon, south], [lon, north]);
for (let lat = south; lat <= north; lat += 1) edge.push([west, lat], [east, lat]);
const outline = { type: 'MultiPoint', coordinates: edge };
const projection = geoNaturalEarth1().rotate(rotate).fitWidth(width, outline);
const [[, y0], [, y1]] = geoPath(projection).bounds(outline);
const height = Math.round(y1 - y0);
projection.translate([projection.translate()[0], projection.translate()[1] - y0]);
projection.clipExtent([[0, 0], [width, height]]);

const path = geoPath(projection).digits(1);
const graticule = geoGraticule().step([10, 10]).extent([[-180, -80], [180, 80.01]]);

const params = {
  projection: 'naturalEarth1',
  rotate,
  scale: projection.scale(),
  translate: projection.translate(),
  width,
  height,
  window: { west, east, south, north },
  source: 'Natural Earth 1:110m (inset 1:50m) via world-atlas 2.0.2, d3-geo ' + require('d3-geo/package.json').version,
};

// Check the page's projection against d3-geo at the lane's places.
const check = [
  ['Hanoi', 105.85, 21.03], ['Singapore', 103.84, 1.26], ['Colombo', 79.85, 6.93],
  ['Port Said', 32.3, 31.26], ['Hamburg', 9.97, 53.55], ['Le Havre', 0.11, 49.49], ['Gdansk', 18.65, 54.35],
];
const mine = makeProjection(params);
for (const [name, lon, lat] of check) {
  const [dx, dy] = projection([lon, lat]);
  const [mx, my] = mine(lon, lat);
  if (Math.abs(dx - mx) > 1e-6 || Math.abs(dy - my) > 1e-6) {
    throw new Error(`projection.js places ${name} at ${mx},${my}; d3-geo at ${dx},${dy}`);
  }
  if (dx < 0 || dx > width || dy < 0 || dy > height) {
    throw new Error(`${name} falls outside the map (${dx},${dy})`);
  }
}

// The inset: the ports of the North Sea's south-eastern shore (Antwerp,
// Rotterdam, Amsterdam, Bremerhaven, Hamburg) at a
// larger scale, drawn over Russia and Central Asia, which the lane does not
// touch, so links from the ports to Asia run the way the ships go.
const inset = (() => {
  const w = 2.5, e = 11.5, so = 50.4, no = 54.4;
  const iw = 360;
  const edge = [];
  for (let lon = w; lon <= e; lon += 0.25) edge.push([lon, so], [lon, no]);
  for (let lat = so; lat <= no; lat += 0.25) edge.push([w, lat], [e, lat]);
  const o = { type: 'MultiPoint', coordinates: edge };
  // Mercator, so the inset keeps shapes true at 52°N (Natural Earth
  // stretches them sideways there).
  const p = geoMercator().rotate([-7, 0, 0]).fitWidth(iw, o);
  const [[, iy0], [, iy1]] = geoPath(p).bounds(o);
  const ih = Math.round(iy1 - iy0);
  p.translate([p.translate()[0], p.translate()[1] - iy0]);
  p.clipExtent([[0, 0], [iw, ih]]);
  return {
    p,
    params: {
      projection: 'mercator', rotate: [-7, 0, 0], scale: p.scale(), translate: p.translate(), width: iw, height: ih,
      window: { west: w, east: e, south: so, north: no },
      // where the inset sits on the main map, in its viewBox units
      at: [300, 10],
    },
  };
})();
params.inset = inset.params;
const minePlus = makeProjection(inset.params);
for (const [name, lon, lat] of check.filter(([, lon, lat]) => lon >= 2.5 && lon <= 11.5 && lat >= 50.4 && lat <= 54.4)) {
  const [dx, dy] = inset.p([lon, lat]);
  const [mx, my] = minePlus(lon, lat);
  if (Math.abs(dx - mx) > 1e-6 || Math.abs(dy - my) > 1e-6) throw new Error(`inset: projection.js places ${name} at ${mx},${my}; d3-geo at ${dx},${dy}`);
}

// The inset is drawn from the 1:50m data: at its scale 1:110m coasts are
// visibly coarse, and the clip keeps the file small.
const topo50 = require('world-atlas/countries-50m.json');
const land50 = feature(topo50, topo50.objects.land);
const borders50 = mesh(topo50, topo50.objects.countries, (a, b) => a !== b);

const svgOf = (proj, w, h, stroke, land, borders, meta) => {
  const pth = geoPath(proj).digits(1);
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by tools/worldmap/generate.mjs; do not edit. Natural Earth (public domain) via world-atlas (ISC). -->
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}">
<metadata>${JSON.stringify(meta)}</metadata>
<rect width="${w}" height="${h}" fill="#0d1b2a"/>
<path d="${pth(graticule())}" fill="none" stroke="#1b2d44" stroke-width="${stroke}"/>
<path d="${pth(land)}" fill="#24364d" stroke="#3b5271" stroke-width="${stroke}"/>
<path d="${pth(borders)}" fill="none" stroke="#3b5271" stroke-width="${stroke * 0.85}"/>
</svg>
`;
};
const { inset: _, ...mainParams } = params;
const svg = svgOf(projection, width, height, 0.6, land, borders, mainParams);
const europe = svgOf(inset.p, inset.params.width, inset.params.height, 0.8, land50, borders50, inset.params);
writeFileSync(join(out, 'world.svg'), svg);
writeFileSync(join(out, 'europe.svg'), europe);
writeFileSync(join(out, 'projection.json'), JSON.stringify(params, null, 2) + '\n');
console.log(`wrote world.svg (${svg.length} bytes, ${width}×${height}), europe.svg (${europe.length} bytes) and projection.json`);
