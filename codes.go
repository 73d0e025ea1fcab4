package linkd

import "strings"

// Code tables, DCSA Track & Trace 2.2 unless noted. Each map answers "is this a
// known code" and gives its meaning for messages and the dashboard.
var (
	Classifiers = map[string]string{"PLN": "planned", "EST": "estimated", "ACT": "actual"}

	ShipmentEventCodes = map[string]string{
		"RECE": "received", "DRFT": "drafted", "PENA": "pending approval", "PENU": "pending update",
		"REJE": "rejected", "APPR": "approved", "ISSU": "issued", "SURR": "surrendered",
		"SUBM": "submitted", "VOID": "void", "CONF": "confirmed", "REQS": "requested",
		"CMPL": "completed", "HOLD": "on hold", "RELS": "released", "CANC": "cancelled",
	}

	DocumentTypeCodes = map[string]string{
		"CBR": "carrier booking request", "BKG": "booking", "SHI": "shipping instruction",
		"SRM": "shipment release message", "TRD": "transport document", "ARN": "arrival notice",
		"VGM": "verified gross mass", "CAS": "cargo survey", "CUS": "customs inspection",
		"DGD": "dangerous goods declaration", "OOG": "out of gauge",
		// linkd's own, for the trade documents parties attest to.
		"INV": "commercial invoice", "PKL": "packing list", "COO": "certificate of origin",
		"PHY": "phytosanitary certificate",
	}

	TransportEventCodes = map[string]string{"ARRI": "arrived", "DEPA": "departed"}

	EquipmentEventCodes = map[string]string{
		"LOAD": "loaded", "DISC": "discharged", "GTIN": "gated in", "GTOT": "gated out",
		"STUF": "stuffed", "STRP": "stripped", "PICK": "picked up", "DROP": "dropped off",
		"INSP": "inspected", "RSEA": "resealed", "RMVD": "removed",
	}

	// InventoryEventCodes are linkd's own, for INVENTORY events.
	InventoryEventCodes = map[string]string{
		"STCK": "stock position", "ALOC": "allocated", "RALC": "re-allocated", "FULF": "fulfilled",
	}

	EmptyIndicatorCodes = map[string]string{"EMPTY": "empty", "LADEN": "laden"}

	ModesOfTransport = map[string]string{"VESSEL": "vessel", "RAIL": "rail", "TRUCK": "truck", "BARGE": "barge"}

	FacilityCodeListProviders = map[string]string{"SMDG": "SMDG terminal code", "BIC": "BIC facility code"}

	ReferenceTypes = map[string]string{
		"FF": "freight forwarder's reference", "SI": "shipper's reference", "PO": "purchase order",
		"CR": "customer's reference", "AKG": "vehicle identification number", "AAO": "consignee's reference",
		"ECR": "empty container release", "CSI": "customer shipment id", "BID": "booking request id",
		"SAC": "shipment arrival confirmation",
	}
)

// eventCodeTables gives each event family its code table.
var eventCodeTables = map[EventType]map[string]string{
	Shipment: ShipmentEventCodes, Transport: TransportEventCodes,
	Equipment: EquipmentEventCodes, Inventory: InventoryEventCodes,
}

// EventTypes lists the known event families.
var EventTypes = []EventType{Shipment, Transport, Equipment, Inventory}

// Role is what a party does in a lane.
type Role string

const (
	RoleShipper   Role = "shipper"
	RoleConsignee Role = "consignee"
	RoleForwarder Role = "forwarder"
	RoleCarrier   Role = "carrier"
	RoleTerminal  Role = "terminal"
	RoleCustoms   Role = "customs"
	RoleWarehouse Role = "warehouse"
)

// Roles lists every known role.
var Roles = []Role{RoleShipper, RoleConsignee, RoleForwarder, RoleCarrier, RoleTerminal, RoleCustoms, RoleWarehouse}

func knownRole(r Role) bool {
	for _, k := range Roles {
		if k == r {
			return true
		}
	}
	return false
}

// regionTags are jurisdiction tags beyond single countries, with their members.
var regionTags = map[string]string{
	"EU":    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE",
	"EEA":   "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO",
	"ASEAN": "BN KH ID LA MY MM PH SG TH VN",
}

// iso3166 is the ISO 3166-1 alpha-2 list of officially assigned codes.
const iso3166 = `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT
MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`

var countries = func() map[string]bool {
	m := make(map[string]bool, 260)
	for _, c := range strings.Fields(iso3166) {
		m[c] = true
	}
	return m
}()

// KnownCountry reports whether c is an ISO 3166-1 alpha-2 country code.
func KnownCountry(c string) bool { return countries[c] }

// KnownJurisdiction reports whether tag is a country code or a region tag
// (EU, EEA, ASEAN).
func KnownJurisdiction(tag string) bool {
	_, region := regionTags[tag]
	return region || countries[tag]
}

// CodeMeaning returns the meaning of a known code in table, or "".
func CodeMeaning(table map[string]string, code string) string { return table[code] }
