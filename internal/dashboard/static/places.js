// Where parties' sites are: UN/LOCODE → name and coordinates for the ports
// and cities of the Vietnam → Europe lanes, and a point per country for any
// other code (the first two letters of a UN/LOCODE are its ISO 3166 country).
// Coordinates are the port's or city's centre, decimal degrees.

export const LOCODES = {
  VNHAN: { name: 'Hanoi', lat: 21.0285, lon: 105.8542 },
  VNHPH: { name: 'Haiphong', lat: 20.8449, lon: 106.6881 },
  VNSGN: { name: 'Ho Chi Minh City', lat: 10.7626, lon: 106.7000 },
  VNCMT: { name: 'Cai Mep', lat: 10.5300, lon: 107.0300 },
  VNDAD: { name: 'Da Nang', lat: 16.0678, lon: 108.2208 },
  CNSHA: { name: 'Shanghai', lat: 31.2304, lon: 121.4737 },
  CNSZX: { name: 'Shenzhen', lat: 22.5431, lon: 114.0579 },
  HKHKG: { name: 'Hong Kong', lat: 22.3193, lon: 114.1694 },
  THLCH: { name: 'Laem Chabang', lat: 13.0827, lon: 100.8830 },
  MYPKG: { name: 'Port Klang', lat: 3.0000, lon: 101.4000 },
  MYTPP: { name: 'Tanjung Pelepas', lat: 1.3625, lon: 103.5486 },
  SGSIN: { name: 'Singapore', lat: 1.2644, lon: 103.8400 },
  LKCMB: { name: 'Colombo', lat: 6.9497, lon: 79.8428 },
  INNSA: { name: 'Nhava Sheva', lat: 18.9490, lon: 72.9512 },
  AEJEA: { name: 'Jebel Ali', lat: 25.0112, lon: 55.0612 },
  OMSLL: { name: 'Salalah', lat: 16.9400, lon: 54.0000 },
  SAJED: { name: 'Jeddah', lat: 21.4858, lon: 39.1925 },
  DJJIB: { name: 'Djibouti', lat: 11.5950, lon: 43.1481 },
  EGPSD: { name: 'Port Said', lat: 31.2653, lon: 32.3019 },
  EGSUZ: { name: 'Suez', lat: 29.9668, lon: 32.5498 },
  GRPIR: { name: 'Piraeus', lat: 37.9420, lon: 23.6465 },
  MTMAR: { name: 'Marsaxlokk', lat: 35.8419, lon: 14.5431 },
  ITGOA: { name: 'Genoa', lat: 44.4056, lon: 8.9463 },
  ESALG: { name: 'Algeciras', lat: 36.1408, lon: -5.4562 },
  ESVLC: { name: 'Valencia', lat: 39.4445, lon: -0.3167 },
  FRLEH: { name: 'Le Havre', lat: 49.4944, lon: 0.1079 },
  GBFXT: { name: 'Felixstowe', lat: 51.9617, lon: 1.3513 },
  GBSOU: { name: 'Southampton', lat: 50.9097, lon: -1.4044 },
  GBLGP: { name: 'London Gateway', lat: 51.5050, lon: 0.4700 },
  BEANR: { name: 'Antwerp', lat: 51.2194, lon: 4.4025 },
  BEZEE: { name: 'Zeebrugge', lat: 51.3330, lon: 3.2000 },
  NLRTM: { name: 'Rotterdam', lat: 51.9244, lon: 4.4777 },
  NLAMS: { name: 'Amsterdam', lat: 52.3676, lon: 4.9041 },
  DEHAM: { name: 'Hamburg', lat: 53.5511, lon: 9.9937 },
  DEBRV: { name: 'Bremerhaven', lat: 53.5396, lon: 8.5809 },
  DEBRE: { name: 'Bremen', lat: 53.0793, lon: 8.8017 },
  DEDUI: { name: 'Duisburg', lat: 51.4344, lon: 6.7623 },
  DEFRA: { name: 'Frankfurt', lat: 50.1109, lon: 8.6821 },
  PLGDN: { name: 'Gdansk', lat: 54.3520, lon: 18.6466 },
  DKAAR: { name: 'Aarhus', lat: 56.1629, lon: 10.2039 },
  SEGOT: { name: 'Gothenburg', lat: 57.7089, lon: 11.9746 },
  FRPAR: { name: 'Paris', lat: 48.8566, lon: 2.3522 },
  BEBRU: { name: 'Brussels', lat: 50.8503, lon: 4.3517 },
  NLVEN: { name: 'Venlo', lat: 51.3704, lon: 6.1724 },
  DEDUS: { name: 'Düsseldorf', lat: 51.2277, lon: 6.7735 },
  DEBER: { name: 'Berlin', lat: 52.5200, lon: 13.4050 },
  GBLON: { name: 'London', lat: 51.5074, lon: -0.1278 },
  ITMIL: { name: 'Milan', lat: 45.4642, lon: 9.1900 },
  ESMAD: { name: 'Madrid', lat: 40.4168, lon: -3.7038 },
  PLWAW: { name: 'Warsaw', lat: 52.2297, lon: 21.0122 },
  CZPRG: { name: 'Prague', lat: 50.0755, lon: 14.4378 },
};

// COUNTRIES places a site whose UN/LOCODE is not listed: a central point of
// the country, good enough to draw its node in the right place on the map.
export const COUNTRIES = {
  VN: [16.0, 106.0], CN: [32.0, 112.0], HK: [22.3, 114.2], TW: [23.7, 121.0], KR: [36.5, 127.8], JP: [36.2, 138.3],
  TH: [15.0, 101.0], KH: [12.6, 104.9], LA: [18.2, 103.9], MM: [21.0, 96.0], MY: [4.2, 102.0], SG: [1.35, 103.82],
  ID: [-2.5, 118.0], PH: [12.9, 121.8], IN: [21.0, 78.0], LK: [7.9, 80.8], BD: [23.7, 90.4], PK: [30.4, 69.3],
  AE: [24.0, 54.0], OM: [21.5, 56.0], SA: [24.0, 45.0], QA: [25.3, 51.2], EG: [27.0, 30.0], DJ: [11.8, 42.6],
  TR: [39.0, 35.0], GR: [39.0, 22.0], CY: [35.1, 33.4], MT: [35.9, 14.4], IT: [42.8, 12.5], ES: [40.0, -3.7],
  PT: [39.5, -8.0], FR: [46.6, 2.4], BE: [50.6, 4.6], NL: [52.2, 5.3], LU: [49.8, 6.1], DE: [51.1, 10.4],
  GB: [52.5, -1.5], IE: [53.3, -7.7], DK: [56.0, 9.5], SE: [60.1, 15.0], NO: [60.5, 8.5], FI: [62.0, 25.7],
  PL: [52.0, 19.4], CZ: [49.8, 15.5], AT: [47.5, 14.6], CH: [46.8, 8.2], HU: [47.2, 19.5], SK: [48.7, 19.7],
  SI: [46.1, 14.9], HR: [45.1, 15.2], RO: [45.9, 25.0], BG: [42.7, 25.5], EE: [58.6, 25.0], LV: [56.9, 24.6],
  LT: [55.2, 23.9], US: [39.8, -98.6], CA: [56.1, -106.3], MX: [23.6, -102.5], BR: [-14.2, -51.9], AU: [-25.3, 133.8],
};

// place returns {lat, lon, name, exact} for a UN/LOCODE, falling back to
// the country (from the code, else from country), or null.
export function place(locode, country) {
  const code = (locode || '').toUpperCase().replace(/\s+/g, '');
  if (LOCODES[code]) return { ...LOCODES[code], exact: true };
  const cc = code.slice(0, 2) || (country || '').toUpperCase();
  const c = COUNTRIES[cc] || COUNTRIES[(country || '').toUpperCase()];
  if (c) return { lat: c[0], lon: c[1], name: code || cc, exact: false };
  return null;
}

// placeName is the plain name of a UN/LOCODE ("Hamburg"), or "".
export function placeName(locode) {
  const p = LOCODES[(locode || '').toUpperCase()];
  return p ? p.name : '';
}
