package expr

import (
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/linkd-dev/linkd"
)

// The CEL view of linkd's domain types. Each Go struct is a CEL object type
// whose fields are the struct's JSON names. Field selection reads the Go
// struct directly (no JSON, no maps), so building an Input costs one small
// allocation and only the fields an expression touches are ever converted.
//
// Presence follows the JSON encoding: has(x.f) is true exactly when
// encoding/json would write f (omitempty). Selecting an absent field gives its
// zero value — "" for strings, 0 for ints, [] for lists, an object whose
// fields are all absent for objects, and timestamp(0) for times — so a filter
// never fails on an event that lacks a field.

// structType is one Go struct seen as a CEL object type.
type structType struct {
	name   string
	typ    *types.Type
	names  []string
	fields map[string]*types.FieldType
}

// fieldDef describes one field of T: its CEL type, its presence test and its
// getter. Both functions get a non-nil *T.
type fieldDef[T any] struct {
	name string
	typ  *types.Type
	set  func(*T) bool
	get  func(*T) ref.Val
}

func newStruct[T any](name string, defs ...fieldDef[T]) *structType {
	st := &structType{
		name:   name,
		typ:    types.NewObjectType(name),
		fields: make(map[string]*types.FieldType, len(defs)),
	}
	var zero T
	for _, d := range defs {
		st.names = append(st.names, d.name)
		st.fields[d.name] = &types.FieldType{
			Type: d.typ,
			IsSet: func(target any) bool {
				p, _ := target.(*T)
				return p != nil && d.set(p)
			},
			GetFrom: func(target any) (any, error) {
				p, ok := target.(*T)
				if !ok {
					return nil, fmt.Errorf("no such field %q on %T", d.name, target)
				}
				if p == nil {
					p = &zero
				}
				return d.get(p), nil
			},
		}
	}
	return st
}

// always makes d present whenever its object is: JSON writes the field even
// when it is zero (no omitempty).
func always[T any](d fieldDef[T]) fieldDef[T] {
	d.set = func(*T) bool { return true }
	return d
}

func str[T any](name string, f func(*T) string) fieldDef[T] {
	return fieldDef[T]{name, types.StringType,
		func(p *T) bool { return f(p) != "" },
		func(p *T) ref.Val { return types.String(f(p)) }}
}

// epoch is the value of an absent time, as protobuf gives for an unset
// google.protobuf.Timestamp.
var epoch = types.Timestamp{Time: time.Unix(0, 0).UTC()}

func timestamp[T any](name string, f func(*T) linkd.Time) fieldDef[T] {
	return fieldDef[T]{name, types.TimestampType,
		func(p *T) bool { return !f(p).IsZero() },
		func(p *T) ref.Val {
			if t := f(p); !t.IsZero() {
				return types.Timestamp{Time: t.UTC()}
			}
			return epoch
		}}
}

func timestampPtr[T any](name string, f func(*T) *linkd.Time) fieldDef[T] {
	return fieldDef[T]{name, types.TimestampType,
		func(p *T) bool { t := f(p); return t != nil && !t.IsZero() },
		func(p *T) ref.Val {
			if t := f(p); t != nil && !t.IsZero() {
				return types.Timestamp{Time: t.UTC()}
			}
			return epoch
		}}
}

// integer is an int field; always reports whether it is set by set, since
// JSON writes some zero ints (quantity, events) and omits others (hlc).
func integer[T any](name string, set func(*T) bool, f func(*T) int64) fieldDef[T] {
	return fieldDef[T]{name, types.IntType, set,
		func(p *T) ref.Val { return types.Int(f(p)) }}
}

func strList[T any](name string, f func(*T) []string) fieldDef[T] {
	return fieldDef[T]{name, types.NewListType(types.StringType),
		func(p *T) bool { return len(f(p)) > 0 },
		func(p *T) ref.Val { return types.NewStringList(types.DefaultTypeAdapter, f(p)) }}
}

func obj[T, U any](name string, st *structType, f func(*T) *U) fieldDef[T] {
	return fieldDef[T]{name, st.typ,
		func(p *T) bool { return f(p) != nil },
		func(p *T) ref.Val { return &object{st: st, ptr: f(p)} }}
}

func objList[T, U any](name string, st *structType, f func(*T) []U) fieldDef[T] {
	return fieldDef[T]{name, types.NewListType(st.typ),
		func(p *T) bool { return len(f(p)) > 0 },
		func(p *T) ref.Val {
			s := f(p)
			vals := make([]ref.Val, len(s))
			for i := range s {
				vals[i] = &object{st: st, ptr: &s[i]}
			}
			return types.NewRefValList(types.DefaultTypeAdapter, vals)
		}}
}

// The object types, named after the Go types they show.
var (
	locationType = newStruct("linkd.Location",
		str("locationName", func(l *linkd.Location) string { return l.LocationName }),
		str("UNLocationCode", func(l *linkd.Location) string { return l.UNLocationCode }),
		str("facilityCode", func(l *linkd.Location) string { return l.FacilityCode }),
		str("facilityCodeListProvider", func(l *linkd.Location) string { return l.FacilityCodeListProvider }),
		str("latitude", func(l *linkd.Location) string { return l.Latitude }),
		str("longitude", func(l *linkd.Location) string { return l.Longitude }),
	)
	vesselType = newStruct("linkd.Vessel",
		str("vesselIMONumber", func(v *linkd.Vessel) string { return v.VesselIMONumber }),
		str("vesselName", func(v *linkd.Vessel) string { return v.VesselName }),
		str("vesselFlag", func(v *linkd.Vessel) string { return v.VesselFlag }),
		str("vesselCallSignNumber", func(v *linkd.Vessel) string { return v.VesselCallSign }),
	)
	transportCallType = newStruct("linkd.TransportCall",
		str("transportCallID", func(t *linkd.TransportCall) string { return t.TransportCallID }),
		str("carrierServiceCode", func(t *linkd.TransportCall) string { return t.CarrierServiceCode }),
		str("carrierVoyageNumber", func(t *linkd.TransportCall) string { return t.CarrierVoyageNumber }),
		str("modeOfTransport", func(t *linkd.TransportCall) string { return t.ModeOfTransport }),
		obj("location", locationType, func(t *linkd.TransportCall) *linkd.Location { return t.Location }),
		obj("vessel", vesselType, func(t *linkd.TransportCall) *linkd.Vessel { return t.Vessel }),
	)
	referenceType = newStruct("linkd.Reference",
		always(str("referenceType", func(r *linkd.Reference) string { return r.ReferenceType })),
		always(str("referenceValue", func(r *linkd.Reference) string { return r.ReferenceValue })),
	)
	partyType = newStruct("linkd.ShipmentParty",
		always(str("party", func(p *linkd.ShipmentParty) string { return p.Party })),
		always(str("role", func(p *linkd.ShipmentParty) string { return string(p.Role) })),
	)
	inventoryType = newStruct("linkd.InventoryLine",
		always(str("facility", func(l *linkd.InventoryLine) string { return l.Facility })),
		always(str("sku", func(l *linkd.InventoryLine) string { return l.SKU })),
		integer("quantity", func(*linkd.InventoryLine) bool { return true }, func(l *linkd.InventoryLine) int64 { return l.Quantity }),
		str("orderID", func(l *linkd.InventoryLine) string { return l.OrderID }),
		str("fromFacility", func(l *linkd.InventoryLine) string { return l.FromFacility }),
	)
	eventType = newStruct("linkd.Event",
		str("eventID", func(e *linkd.Event) string { return e.EventID }),
		always(str("eventType", func(e *linkd.Event) string { return string(e.EventType) })),
		always(str("eventClassifierCode", func(e *linkd.Event) string { return e.EventClassifierCode })),
		always(timestamp("eventDateTime", func(e *linkd.Event) linkd.Time { return e.EventDateTime })),
		timestamp("eventCreatedDateTime", func(e *linkd.Event) linkd.Time { return e.EventCreatedDateTime }),
		str("shipmentEventTypeCode", func(e *linkd.Event) string { return e.ShipmentEventTypeCode }),
		str("documentTypeCode", func(e *linkd.Event) string { return e.DocumentTypeCode }),
		str("documentID", func(e *linkd.Event) string { return e.DocumentID }),
		str("reason", func(e *linkd.Event) string { return e.Reason }),
		str("transportEventTypeCode", func(e *linkd.Event) string { return e.TransportEventTypeCode }),
		str("delayReasonCode", func(e *linkd.Event) string { return e.DelayReasonCode }),
		str("equipmentEventTypeCode", func(e *linkd.Event) string { return e.EquipmentEventTypeCode }),
		str("emptyIndicatorCode", func(e *linkd.Event) string { return e.EmptyIndicatorCode }),
		str("ISOEquipmentCode", func(e *linkd.Event) string { return e.ISOEquipmentCode }),
		str("inventoryEventTypeCode", func(e *linkd.Event) string { return e.InventoryEventTypeCode }),
		obj("inventory", inventoryType, func(e *linkd.Event) *linkd.InventoryLine { return e.Inventory }),
		str("carrierBookingReference", func(e *linkd.Event) string { return e.CarrierBookingReference }),
		str("transportDocumentReference", func(e *linkd.Event) string { return e.TransportDocumentReference }),
		str("equipmentReference", func(e *linkd.Event) string { return e.EquipmentReference }),
		objList("references", referenceType, func(e *linkd.Event) []linkd.Reference { return e.References }),
		obj("eventLocation", locationType, func(e *linkd.Event) *linkd.Location { return e.EventLocation }),
		obj("transportCall", transportCallType, func(e *linkd.Event) *linkd.TransportCall { return e.TransportCall }),
		str("origin", func(e *linkd.Event) string { return e.Origin }),
		objList("parties", partyType, func(e *linkd.Event) []linkd.ShipmentParty { return e.Parties }),
		strList("visibility", func(e *linkd.Event) []string { return e.Visibility }),
		strList("residency", func(e *linkd.Event) []string { return e.Residency }),
		strList("causedBy", func(e *linkd.Event) []string { return e.CausedBy }),
		str("retractedEventID", func(e *linkd.Event) string { return e.RetractedEventID }),
		str("supersedesEventID", func(e *linkd.Event) string { return e.SupersedesEventID }),
		// An HLC's wall part is below 2^48 ms, so the stamp fits an int64.
		integer("hlc", func(e *linkd.Event) bool { return e.HLC != 0 }, func(e *linkd.Event) int64 { return int64(e.HLC) }),
	)

	arrivalType = newStruct("linkd.Arrival",
		always(str("location", func(a *linkd.Arrival) string { return a.Location })),
		always(timestamp("time", func(a *linkd.Arrival) linkd.Time { return a.Time })),
		always(str("classifier", func(a *linkd.Arrival) string { return a.Classifier })),
		always(str("eventID", func(a *linkd.Arrival) string { return a.EventID })),
		always(str("origin", func(a *linkd.Arrival) string { return a.Origin })),
	)
	holdType = newStruct("linkd.Hold",
		always(str("eventID", func(h *linkd.Hold) string { return h.EventID })),
		always(str("origin", func(h *linkd.Hold) string { return h.Origin })),
		always(timestamp("since", func(h *linkd.Hold) linkd.Time { return h.Since })),
		str("reason", func(h *linkd.Hold) string { return h.Reason }),
		str("documentTypeCode", func(h *linkd.Hold) string { return h.DocumentTypeCode }),
		str("equipmentReference", func(h *linkd.Hold) string { return h.EquipmentReference }),
	)
	stateType = newStruct("linkd.ShipmentState",
		always(str("ref", func(s *linkd.ShipmentState) string { return s.Ref })),
		always(str("status", func(s *linkd.ShipmentState) string { return string(s.Status) })),
		timestampPtr("statusSince", func(s *linkd.ShipmentState) *linkd.Time { return s.StatusSince }),
		str("statusEvent", func(s *linkd.ShipmentState) string { return s.StatusEvent }),
		str("lastEvent", func(s *linkd.ShipmentState) string { return s.LastEvent }),
		obj("lastLocation", locationType, func(s *linkd.ShipmentState) *linkd.Location { return s.LastLocation }),
		obj("eta", arrivalType, func(s *linkd.ShipmentState) *linkd.Arrival { return s.ETA }),
		objList("openHolds", holdType, func(s *linkd.ShipmentState) []linkd.Hold { return s.OpenHolds }),
		strList("carrierBookingReferences", func(s *linkd.ShipmentState) []string { return s.Bookings }),
		strList("transportDocumentReferences", func(s *linkd.ShipmentState) []string { return s.TransportDocuments }),
		strList("equipmentReferences", func(s *linkd.ShipmentState) []string { return s.Equipment }),
		objList("parties", partyType, func(s *linkd.ShipmentState) []linkd.ShipmentParty { return s.Parties }),
		integer("events", func(*linkd.ShipmentState) bool { return true }, func(s *linkd.ShipmentState) int64 { return int64(s.Events) }),
	)
)

var structTypes = func() map[string]*structType {
	m := map[string]*structType{}
	for _, st := range []*structType{locationType, vesselType, transportCallType, referenceType, partyType,
		inventoryType, eventType, arrivalType, holdType, stateType} {
		m[st.name] = st
	}
	return m
}()

// object is a CEL value for a pointer to one of the structs above. A nil
// pointer is an object with every field absent.
type object struct {
	st  *structType
	ptr any // *linkd.Event, *linkd.Location, …; may be a typed nil
}

var (
	_ traits.Indexer     = (*object)(nil)
	_ traits.FieldTester = (*object)(nil)
)

func (o *object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(o.ptr) == typeDesc {
		return o.ptr, nil
	}
	return nil, fmt.Errorf("expr: cannot convert %s to %v", o.st.name, typeDesc)
}

func (o *object) ConvertToType(t ref.Type) ref.Val {
	switch {
	case t == types.TypeType:
		return o.st.typ
	case t.TypeName() == o.st.name:
		return o
	}
	return types.NewErr("type conversion error from '%s' to '%s'", o.st.name, t.TypeName())
}

// Equal compares field by field, so two objects are equal when every field an
// expression could read is equal; an absent object equals one with every
// field absent.
func (o *object) Equal(other ref.Val) ref.Val {
	p, ok := other.(*object)
	if !ok || p.st != o.st {
		return types.False
	}
	for _, name := range o.st.names {
		ft := o.st.fields[name]
		a, _ := ft.GetFrom(o.ptr)
		b, _ := ft.GetFrom(p.ptr)
		if a.(ref.Val).Equal(b.(ref.Val)) != types.True {
			return types.False
		}
	}
	return types.True
}

func (o *object) Type() ref.Type { return o.st.typ }

func (o *object) Value() any { return o.ptr }

// Get serves field selection when the type checker could not see the type
// (through dyn()).
func (o *object) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.ValOrErr(index, "no such overload")
	}
	ft, ok := o.st.fields[string(name)]
	if !ok {
		return types.NewErr("no such field '%s' on %s", name, o.st.name)
	}
	v, err := ft.GetFrom(o.ptr)
	if err != nil {
		return types.WrapErr(err)
	}
	return v.(ref.Val)
}

func (o *object) IsSet(field ref.Val) ref.Val {
	name, ok := field.(types.String)
	if !ok {
		return types.ValOrErr(field, "no such overload")
	}
	ft, ok := o.st.fields[string(name)]
	if !ok {
		return types.NewErr("no such field '%s' on %s", name, o.st.name)
	}
	return types.Bool(ft.IsSet(o.ptr))
}

// provider adds the linkd object types to CEL's registry. Expressions can
// read them but not construct them.
type provider struct {
	*types.Registry
}

func (p provider) FindStructType(name string) (*types.Type, bool) {
	if st, ok := structTypes[name]; ok {
		return types.NewTypeTypeWithParam(st.typ), true
	}
	return p.Registry.FindStructType(name)
}

func (p provider) FindStructFieldNames(name string) ([]string, bool) {
	if st, ok := structTypes[name]; ok {
		return append([]string(nil), st.names...), true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if st, ok := structTypes[name]; ok {
		ft, ok := st.fields[field]
		return ft, ok
	}
	return p.Registry.FindStructFieldType(name, field)
}

func (p provider) FindIdent(name string) (ref.Val, bool) {
	if st, ok := structTypes[name]; ok {
		return st.typ, true
	}
	return p.Registry.FindIdent(name)
}

func (p provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := structTypes[name]; ok {
		return types.NewErr("%s values cannot be constructed in an expression", name)
	}
	return p.Registry.NewValue(name, fields)
}
