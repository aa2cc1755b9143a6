package admin

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/config"
)

var durationType = reflect.TypeFor[config.Duration]()

// plain turns a (redacted) config value into maps, slices and scalars the way
// encoding/json would (json names, omitempty), except that durations read as
// Go duration strings ("3s") rather than nanoseconds, as in the config file.
func plain(v any) any {
	if v == nil {
		return nil
	}
	return plainValue(reflect.ValueOf(v))
}

func plainValue(v reflect.Value) any {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plainValue(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			if (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 && strings.Contains(opts, "omitempty") {
				continue
			}
			out[name] = plainValue(fv)
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		keys := v.MapKeys()
		for _, k := range keys {
			out[fmt.Sprint(k.Interface())] = plainValue(v.MapIndex(k))
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plainValue(v.Index(i))
		}
		return out
	default:
		return v.Interface()
	}
}

// plainMap is plain for a struct pointer: a map, empty when v is nil.
func plainMap(v any) map[string]any {
	if m, ok := plain(v).(map[string]any); ok {
		return m
	}
	return map[string]any{}
}
