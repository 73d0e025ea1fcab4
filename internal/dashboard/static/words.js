// Plain-language lines for events: "EU Customs: HOLD on OCLVNHAM0000042 at
// Hamburg (customs inspection)". The code tables mirror codes.go.

import { placeName } from './places.js';

export const SHIPMENT_CODES = {
  RECE: 'received', DRFT: 'drafted', PENA: 'pending approval', PENU: 'pending update',
  REJE: 'rejected', APPR: 'approved', ISSU: 'issued', SURR: 'surrendered',
  SUBM: 'submitted', VOID: 'void', CONF: 'confirmed', REQS: 'requested',
  CMPL: 'completed', HOLD: 'on hold', RELS: 'released', CANC: 'cancelled',
};
export const DOCUMENT_TYPES = {
  CBR: 'booking request', BKG: 'booking', SHI: 'shipping instruction',
  SRM: 'shipment release', TRD: 'transport document', ARN: 'arrival notice',
  VGM: 'verified gross mass', CAS: 'cargo survey', CUS: 'customs inspection',
  DGD: 'dangerous goods declaration', OOG: 'out of gauge',
};
export const TRANSPORT_CODES = { ARRI: 'arrived at', DEPA: 'departed' };
export const EQUIPMENT_CODES = {
  LOAD: 'loaded', DISC: 'discharged', GTIN: 'gated in', GTOT: 'gated out',
  STUF: 'stuffed', STRP: 'stripped', PICK: 'picked up', DROP: 'dropped off',
  INSP: 'inspected', RSEA: 'resealed', RMVD: 'removed',
};
export const INVENTORY_CODES = { STCK: 'stock position', ALOC: 'allocated', RALC: 're-allocated', FULF: 'fulfilled' };
const CLASSIFIERS = { PLN: 'planned', EST: 'estimated', ACT: 'actual' };

// EXCEPTIONS are the codes the feed keeps in view: what a person must act on.
export const EXCEPTIONS = new Set(['HOLD', 'RELS', 'RALC', 'CANC', 'REJE']);

export function typeCode(ev) {
  switch (ev.eventType) {
    case 'SHIPMENT': return ev.shipmentEventTypeCode || '';
    case 'TRANSPORT': return ev.transportEventTypeCode || '';
    case 'EQUIPMENT': return ev.equipmentEventTypeCode || '';
    case 'INVENTORY': return ev.inventoryEventTypeCode || '';
    default: return '';
  }
}

// shipmentRef is the reference a person searches the event's shipment by.
export function shipmentRef(ev) {
  return ev.carrierBookingReference || ev.transportDocumentReference || ev.equipmentReference || '';
}

// eventPlace is where the event happened, as a person says it.
export function eventPlace(ev) {
  const loc = ev.eventLocation || (ev.transportCall && ev.transportCall.location) || null;
  if (!loc) return '';
  return placeName(loc.UNLocationCode) || loc.locationName || loc.UNLocationCode || loc.facilityCode || '';
}

const n = (x) => (typeof x === 'number' ? x.toLocaleString('en') : String(x ?? ''));

// describe turns an event into {text, family, code, ref, where}. name maps
// a party id to its display name.
export function describe(ev, name = (id) => id) {
  const who = name(ev.origin || '') || ev.origin || 'unknown party';
  const code = typeCode(ev);
  const ref = shipmentRef(ev);
  const where = eventPlace(ev);
  const at = where ? ` at ${where}` : '';
  const cls = ev.eventClassifierCode && ev.eventClassifierCode !== 'ACT' ? ` (${CLASSIFIERS[ev.eventClassifierCode] || ev.eventClassifierCode})` : '';
  const family = (ev.eventType || 'unknown').toLowerCase();
  let what;
  switch (ev.eventType) {
    case 'SHIPMENT': {
      const doc = DOCUMENT_TYPES[ev.documentTypeCode] || '';
      if (code === 'HOLD' || code === 'RELS') {
        const why = [doc, ev.reason].filter(Boolean)[0] || SHIPMENT_CODES[code];
        what = `${code} on ${ref}${at} (${why})`;
      } else {
        what = `${doc || 'shipment'} ${ref} ${SHIPMENT_CODES[code] || code}${at}${cls}`;
      }
      break;
    }
    case 'TRANSPORT': {
      const tc = ev.transportCall || {};
      const vessel = (tc.vessel && tc.vessel.vesselName) || tc.modeOfTransport?.toLowerCase() || 'transport';
      const voyage = tc.carrierVoyageNumber ? ` voyage ${tc.carrierVoyageNumber}` : '';
      const verb = TRANSPORT_CODES[code] || code;
      what = code === 'ARRI' ? `${vessel}${voyage} ${verb} ${where || 'port'}${cls}` : `${vessel}${voyage} ${verb}${where ? ' ' + where : ''}${cls}`;
      break;
    }
    case 'EQUIPMENT': {
      const laden = ev.emptyIndicatorCode ? `, ${ev.emptyIndicatorCode.toLowerCase()}` : '';
      what = `container ${ev.equipmentReference || ref} ${EQUIPMENT_CODES[code] || code}${at}${cls}${laden ? ` (${laden.slice(2)})` : ''}`;
      break;
    }
    case 'INVENTORY': {
      const inv = ev.inventory || {};
      const fac = name(inv.facility) || inv.facility;
      const from = name(inv.fromFacility) || inv.fromFacility;
      const qty = `${n(inv.quantity)} × ${inv.sku}`;
      const because = ref ? ` (shipment ${ref})` : '';
      switch (code) {
        case 'STCK': what = `stock of ${inv.sku} at ${fac}: ${n(inv.quantity)} units`; break;
        case 'ALOC': what = `order ${inv.orderID} (${qty}) allocated to ${fac}${because}`; break;
        case 'RALC': what = `order ${inv.orderID} (${qty}) re-allocated ${from || '?'} → ${fac}${because}`; break;
        case 'FULF': what = `order ${inv.orderID} (${qty}) fulfilled from ${fac}`; break;
        default: what = `${INVENTORY_CODES[code] || code} ${qty} at ${fac}`;
      }
      break;
    }
    default:
      what = `${ev.eventType || 'event'} ${code} ${ref}${at}`;
  }
  if (ev.retractedEventID) what = `retracts an earlier event: ${what}`;
  return { text: `${who}: ${what}`, what, family, code, ref, where };
}

// formatTime shows an RFC 3339 time compactly in UTC: "2026-11-03 08:15Z".
export function formatTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toISOString().slice(0, 16).replace('T', ' ') + 'Z';
}

// partyOf names the party of a log origin or key name
// ("linkd.dev/log/eu-customs", "linkd.dev/witness/dc-hamburg"), or returns
// the name as it is.
export function partyOf(name) {
  return String(name || '').replace(/^linkd\.dev\/(log|witness)\//, '');
}
