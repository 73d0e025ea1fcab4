package linkd_test

import (
	"reflect"
	"testing"

	"github.com/linkd-dev/linkd"
)

// fill gives every string, list and nested part of v a value, so that a
// field added to the event later is covered too.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int64:
		v.SetInt(7)
	case reflect.Uint64:
		v.SetUint(7)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range v.Len() {
			fill(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[linkd.Time]() {
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	}
}

// shared reports the first list or nested part that a and b hold in common.
func shared(a, b reflect.Value, path string) string {
	if a.Type() == reflect.TypeFor[linkd.Time]() {
		return "" // immutable, like a string
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.Pointer() == b.Pointer() {
			return path
		}
		return shared(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Pointer() == b.Pointer() {
			return path
		}
		for i := range a.Len() {
			if p := shared(a.Index(i), b.Index(i), path+"[i]"); p != "" {
				return p
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if p := shared(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestEventCloneIsDeep(t *testing.T) {
	var e linkd.Event
	fill(reflect.ValueOf(&e).Elem())
	c := e.Clone()
	if !reflect.DeepEqual(c, e) {
		t.Fatalf("the clone differs from the event:\n%+v\n%+v", c, e)
	}
	if p := shared(reflect.ValueOf(e), reflect.ValueOf(c), "Event"); p != "" {
		t.Fatalf("the clone shares %s with the event: changing one would change the other", p)
	}
	// And the nil parts stay nil rather than becoming empty.
	var empty linkd.Event
	if c := empty.Clone(); !reflect.DeepEqual(c, empty) {
		t.Fatalf("the clone of an empty event is %+v", c)
	}
}
