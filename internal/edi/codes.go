package edi

import (
	"slices"

	"github.com/linkd-dev/linkd"
)

// Mapping is what one EDI status code becomes: a DCSA event family and code
// and, where the EDI code fixes them, the document type, empty indicator,
// mode of transport and classifier. An empty field is taken from the
// message (the equipment segment, the transport details, the date/time
// qualifier) or, failing that, from the defaults: LADEN and ACT.
type Mapping struct {
	Meaning    string          // the EDI code's meaning
	Type       linkd.EventType // SHIPMENT, TRANSPORT or EQUIPMENT
	Code       string          // the DCSA type code
	DocType    string          // SHIPMENT events: the documentTypeCode
	Empty      string          // EQUIPMENT events: EMPTY or LADEN when the code says which
	Mode       string          // VESSEL, RAIL, TRUCK or BARGE when the code says which
	Classifier string          // ACT, EST or PLN when the code says which
	Stop       string          // X12 214: "pickup" or "delivery", whose N1 loop gives the place
}

// Rec24 maps the UN/ECE Recommendation 24 transport status codes that
// IFTSTA carries in STS C555/4405 (revision 6, 2017). The classifier comes
// from the status's date/time qualifier.
var Rec24 = map[string]Mapping{
	"1":   {Meaning: "Arrival, completed", Type: linkd.Transport, Code: "ARRI"},
	"40":  {Meaning: "Arrival, at port", Type: linkd.Transport, Code: "ARRI", Mode: "VESSEL"},
	"24":  {Meaning: "Departure, completed", Type: linkd.Transport, Code: "DEPA"},
	"127": {Meaning: "Departed, completed on a means of transport", Type: linkd.Transport, Code: "DEPA"},
	"48":  {Meaning: "Loading, completed onto a means of transport", Type: linkd.Equipment, Code: "LOAD"},
	"29":  {Meaning: "Unloaded", Type: linkd.Equipment, Code: "DISC"},
	"93":  {Meaning: "Stuffed", Type: linkd.Equipment, Code: "STUF", Empty: "LADEN"},
	"94":  {Meaning: "Stuffed and sealed", Type: linkd.Equipment, Code: "STUF", Empty: "LADEN"},
	"28":  {Meaning: "Stripped", Type: linkd.Equipment, Code: "STRP", Empty: "EMPTY"},
	"13":  {Meaning: "Collection/pick-up, completed", Type: linkd.Equipment, Code: "PICK"},
	"21":  {Meaning: "Delivery, completed", Type: linkd.Equipment, Code: "DROP"},
	"74":  {Meaning: "Received", Type: linkd.Equipment, Code: "GTIN"},
	"27":  {Meaning: "Despatch, completed", Type: linkd.Equipment, Code: "GTOT"},
	"83":  {Meaning: "Sealed equipment", Type: linkd.Equipment, Code: "RSEA"},
	"97":  {Meaning: "Damage surveyed", Type: linkd.Equipment, Code: "INSP"},
	"12":  {Meaning: "Cleared, by customs", Type: linkd.Shipment, Code: "RELS", DocType: "CUS"},
	"8":   {Meaning: "Cleared, import restrictions", Type: linkd.Shipment, Code: "RELS", DocType: "CUS"},
	"9":   {Meaning: "Cleared, export restrictions", Type: linkd.Shipment, Code: "RELS", DocType: "CUS"},
	"17":  {Meaning: "Customs clearance, refused", Type: linkd.Shipment, Code: "HOLD", DocType: "CUS"},
	"128": {Meaning: "Awaiting customs import release", Type: linkd.Shipment, Code: "HOLD", DocType: "CUS"},
	"78":  {Meaning: "Released", Type: linkd.Shipment, Code: "RELS", DocType: "SRM"},
	"6":   {Meaning: "Booking, completed", Type: linkd.Shipment, Code: "CONF", DocType: "BKG"},
	"7":   {Meaning: "Booking, cancelled", Type: linkd.Shipment, Code: "CANC", DocType: "BKG"},
}

// Ocean maps the ocean status codes of X12 315 B403, which most carriers
// (and INTTRA) also send in IFTSTA STS C555/4405. In IFTSTA an explicit
// date/time qualifier overrides the classifier given here.
var Ocean = map[string]Mapping{
	"EE": {Meaning: "Empty equipment dispatched", Type: linkd.Equipment, Code: "GTOT", Empty: "EMPTY", Classifier: "ACT"},
	"I":  {Meaning: "In-gate", Type: linkd.Equipment, Code: "GTIN", Classifier: "ACT"},
	"AE": {Meaning: "Loaded on vessel", Type: linkd.Equipment, Code: "LOAD", Mode: "VESSEL", Classifier: "ACT"},
	"VD": {Meaning: "Vessel departure", Type: linkd.Transport, Code: "DEPA", Mode: "VESSEL", Classifier: "ACT"},
	"VA": {Meaning: "Vessel arrival", Type: linkd.Transport, Code: "ARRI", Mode: "VESSEL", Classifier: "ACT"},
	"E":  {Meaning: "Estimated to arrive (en route)", Type: linkd.Transport, Code: "ARRI", Mode: "VESSEL", Classifier: "EST"},
	"C":  {Meaning: "Estimated to depart terminal location", Type: linkd.Transport, Code: "DEPA", Mode: "VESSEL", Classifier: "EST"},
	"UV": {Meaning: "Unloaded from vessel", Type: linkd.Equipment, Code: "DISC", Mode: "VESSEL", Classifier: "ACT"},
	"AL": {Meaning: "Loaded on rail", Type: linkd.Equipment, Code: "LOAD", Mode: "RAIL", Classifier: "ACT"},
	"UR": {Meaning: "Unloaded from rail", Type: linkd.Equipment, Code: "DISC", Mode: "RAIL", Classifier: "ACT"},
	"RL": {Meaning: "Rail departure from origin intermodal ramp", Type: linkd.Transport, Code: "DEPA", Mode: "RAIL", Classifier: "ACT"},
	"AR": {Meaning: "Rail arrival at destination intermodal ramp", Type: linkd.Transport, Code: "ARRI", Mode: "RAIL", Classifier: "ACT"},
	"OA": {Meaning: "Out-gate", Type: linkd.Equipment, Code: "GTOT", Classifier: "ACT"},
	"X1": {Meaning: "Arrived at delivery location", Type: linkd.Equipment, Code: "DROP", Classifier: "ACT"},
	"RD": {Meaning: "Return container (empty returned)", Type: linkd.Equipment, Code: "GTIN", Empty: "EMPTY", Classifier: "ACT"},
	"CT": {Meaning: "Customs released", Type: linkd.Shipment, Code: "RELS", DocType: "CUS", Classifier: "ACT"},
	"CR": {Meaning: "Carrier release", Type: linkd.Shipment, Code: "RELS", DocType: "SRM", Classifier: "ACT"},
	"CU": {Meaning: "Carrier and customs release", Type: linkd.Shipment, Code: "RELS", DocType: "SRM", Classifier: "ACT"},
	"PA": {Meaning: "Customs hold, intensive examination", Type: linkd.Shipment, Code: "HOLD", DocType: "CUS", Classifier: "ACT"},
}

// Truck maps the X12 214 shipment status codes of AT701 (and the
// appointment codes of AT703, used when AT701 is empty).
var Truck = map[string]Mapping{
	"X3": {Meaning: "Arrived at pick-up location", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "ACT", Stop: "pickup"},
	"AF": {Meaning: "Carrier departed pick-up location with shipment", Type: linkd.Transport, Code: "DEPA", Mode: "TRUCK", Classifier: "ACT", Stop: "pickup"},
	"CP": {Meaning: "Completed loading at pick-up location", Type: linkd.Equipment, Code: "STUF", Empty: "LADEN", Classifier: "ACT", Stop: "pickup"},
	"AM": {Meaning: "Loaded on truck", Type: linkd.Equipment, Code: "LOAD", Mode: "TRUCK", Classifier: "ACT", Stop: "pickup"},
	"X4": {Meaning: "Arrived at terminal location", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "ACT"},
	"P1": {Meaning: "Departed terminal location", Type: linkd.Transport, Code: "DEPA", Mode: "TRUCK", Classifier: "ACT"},
	"X1": {Meaning: "Arrived at delivery location", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "ACT", Stop: "delivery"},
	"X5": {Meaning: "Arrived at delivery location loading dock", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "ACT", Stop: "delivery"},
	"D1": {Meaning: "Completed unloading at delivery location", Type: linkd.Equipment, Code: "STRP", Empty: "EMPTY", Classifier: "ACT", Stop: "delivery"},
	"CD": {Meaning: "Carrier departed delivery location", Type: linkd.Transport, Code: "DEPA", Mode: "TRUCK", Classifier: "ACT", Stop: "delivery"},
	"S1": {Meaning: "Trailer spotted at consignee's location", Type: linkd.Equipment, Code: "DROP", Empty: "LADEN", Classifier: "ACT", Stop: "delivery"},
	"X2": {Meaning: "Estimated date and/or time of arrival at consignee's location", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "EST", Stop: "delivery"},
	"AG": {Meaning: "Estimated delivery", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "EST", Stop: "delivery"},
	"AA": {Meaning: "Pick-up appointment date and/or time (AT703)", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "PLN", Stop: "pickup"},
	"AB": {Meaning: "Delivery appointment date and/or time (AT703)", Type: linkd.Transport, Code: "ARRI", Mode: "TRUCK", Classifier: "PLN", Stop: "delivery"},
	"AR": {Meaning: "Rail arrival at destination intermodal ramp", Type: linkd.Transport, Code: "ARRI", Mode: "RAIL", Classifier: "ACT"},
	"RL": {Meaning: "Rail departure from origin intermodal ramp", Type: linkd.Transport, Code: "DEPA", Mode: "RAIL", Classifier: "ACT"},
	"AL": {Meaning: "Shipment conveyance loaded to rail car", Type: linkd.Equipment, Code: "LOAD", Mode: "RAIL", Classifier: "ACT"},
	"UR": {Meaning: "Shipment conveyance unloaded from rail car", Type: linkd.Equipment, Code: "DISC", Mode: "RAIL", Classifier: "ACT"},
	"R1": {Meaning: "Received from prior carrier", Type: linkd.Equipment, Code: "PICK", Classifier: "ACT"},
	"J1": {Meaning: "Delivered to connecting line", Type: linkd.Equipment, Code: "DROP", Classifier: "ACT"},
	"CT": {Meaning: "Customs release", Type: linkd.Shipment, Code: "RELS", DocType: "CUS", Classifier: "ACT"},
	"CA": {Meaning: "Shipment cancelled", Type: linkd.Shipment, Code: "CANC", DocType: "BKG", Classifier: "ACT"},
}

// iftstaCode looks a STS status code up: Recommendation 24 first, then the
// ocean codes.
func iftstaCode(code string) (Mapping, bool) {
	if m, ok := Rec24[code]; ok {
		return m, true
	}
	m, ok := Ocean[code]
	return m, ok
}

// Outbound codes, tried in order: the first whose mapping expresses an
// event is written.
var (
	iftstaOut = []string{"1", "24", "48", "29", "93", "28", "13", "21", "74", "27", "83", "97", "12", "128", "78", "6", "7"}
	x12315Out = []string{"VA", "VD", "E", "C", "AR", "RL", "AE", "AL", "UV", "UR", "I", "OA", "X1", "CT", "CR", "PA"}
)

// DTM qualifiers (UN/EDIFACT 2005) an IFTSTA status may carry its time in,
// and the classifier each implies ("" leaves it to the status code).
var dtmClassifiers = map[string]string{
	"7":   "",    // effective date/time
	"334": "",    // status change date/time
	"178": "ACT", // arrival date/time, actual
	"186": "ACT", // departure date/time, actual
	"132": "EST", // arrival date/time, estimated
	"133": "EST", // departure date/time, estimated
	"17":  "EST", // delivery date/time, estimated
	"232": "PLN", // arrival date/time, scheduled
	"189": "PLN", // departure date/time, scheduled
}

// dtmQualifierOrder lists dtmClassifiers' keys for messages.
var dtmQualifierOrder = []string{"7", "334", "178", "186", "132", "133", "17", "232", "189"}

// Modes of transport (UN/EDIFACT 8067, TDT C220) and back.
var (
	modeOf   = map[string]string{"1": "VESSEL", "2": "RAIL", "3": "TRUCK", "8": "BARGE"}
	modeCode = map[string]string{"VESSEL": "1", "RAIL": "2", "TRUCK": "3", "BARGE": "8"}
)

// Reference qualifiers: EDIFACT 1153 (RFF) and X12 128 (N9, L11) to DCSA
// reference types. BN and BM name the booking and the transport document;
// EQ (X12) names a container. A DCSA type written as the qualifier is read
// as itself.
var (
	rffRefs = map[string]string{"ON": "PO"}
	x12Refs = map[string]string{"FN": "FF"}
)

// dcsaRef returns the DCSA reference type of an EDI qualifier, "" if none.
func dcsaRef(qual string, table map[string]string) string {
	if t, ok := table[qual]; ok {
		return t
	}
	if _, ok := linkd.ReferenceTypes[qual]; ok {
		return qual
	}
	return ""
}

// ediRef returns the EDI qualifier for a DCSA reference type.
func ediRef(typ string, table map[string]string) string {
	for q, t := range table {
		if t == typ {
			return q
		}
	}
	return typ
}

// sortedCodes returns a table's codes in a stable order: numeric codes by
// value, then the others alphabetically.
func sortedCodes(table map[string]Mapping) []string {
	codes := make([]string, 0, len(table))
	for c := range table {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b string) int {
		if len(a) != len(b) && isDigits(a) && isDigits(b) {
			return len(a) - len(b)
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return codes
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
