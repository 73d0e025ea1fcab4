// The map projections, shared by the page and the world map generator
// (tools/worldmap/generate.mjs checks them against d3-geo): d3's Natural
// Earth 1 for the world map and Mercator for the inset, rotated about the
// pole, with the scale and translation recorded in projection.json when
// the maps were made. Pure functions; no DOM.

const rad = Math.PI / 180;

// naturalEarth1Raw is d3-geo's geoNaturalEarth1Raw (Šavrič et al. 2011).
function naturalEarth1Raw(lambda, phi) {
  const phi2 = phi * phi;
  const phi4 = phi2 * phi2;
  return [
    lambda * (0.8707 - 0.131979 * phi2 + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4))),
    phi * (1.007226 + phi2 * (0.015085 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4))),
  ];
}

// mercatorRaw is d3-geo's geoMercatorRaw.
function mercatorRaw(lambda, phi) {
  return [lambda, Math.log(Math.tan((Math.PI / 2 + phi) / 2))];
}

const RAW = { naturalEarth1: naturalEarth1Raw, mercator: mercatorRaw };

// makeProjection returns a function from [longitude, latitude] in degrees to
// [x, y] in the SVG's viewBox units, for the parameters in projection.json.
export function makeProjection(p) {
  const raw = RAW[p.projection];
  if (!raw) throw new Error(`projection ${p.projection} is not supported`);
  const [rotLambda] = p.rotate;
  const k = p.scale;
  const [tx, ty] = p.translate;
  return function project(lon, lat) {
    let lambda = (lon + rotLambda) * rad;
    if (lambda > Math.PI) lambda -= 2 * Math.PI;
    else if (lambda < -Math.PI) lambda += 2 * Math.PI;
    const [x, y] = raw(lambda, lat * rad);
    return [tx + k * x, ty - k * y];
  };
}
