// Command protobuf-schema writes src/client/protobuf/schema.generated.ts: for every kind that
// client-go's scheme knows (the built-in API), how its protobuf fields map onto the JSON an
// apiserver would send for it. Kubernetes' .proto files give field numbers and wire types but not
// the JSON rules (omitempty, inline structs, custom marshalers), so the table is read here from
// the Go types themselves, which carry both tags. Run: npm run generate:protobuf-schema
package main

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
)

// Types whose JSON is written by a MarshalJSON of their own: decoded by name.
var special = map[reflect.Type]string{
	reflect.TypeOf(metav1.Time{}):          "time",
	reflect.TypeOf(metav1.MicroTime{}):     "microtime",
	reflect.TypeOf(metav1.Duration{}):      "duration",
	reflect.TypeOf(resource.Quantity{}):    "quantity",
	reflect.TypeOf(intstr.IntOrString{}):   "intorstring",
	reflect.TypeOf(runtime.RawExtension{}): "rawjson",
	reflect.TypeOf(metav1.FieldsV1{}):      "rawjson",
}

// Field flags, as the decoder reads them.
const (
	repeated  = 1
	omitEmpty = 2
	pointer   = 4
	inline    = 8
	omitZero  = 16
)

type field struct {
	num   int
	json  string
	typ   string
	flags int
}

var (
	messages      = map[string][]field{}
	unsupported   = map[string]string{}
	marshaler     = reflect.TypeOf((*interface{ Marshal() ([]byte, error) })(nil)).Elem()
	jsonMarshaler = reflect.TypeOf((*interface{ MarshalJSON() ([]byte, error) })(nil)).Elem()
)

func name(t reflect.Type) string {
	p := t.PkgPath()
	for _, prefix := range []string{"k8s.io/api/", "k8s.io/apimachinery/pkg/apis/", "k8s.io/apimachinery/pkg/"} {
		p = strings.TrimPrefix(p, prefix)
	}
	return p + "." + t.Name()
}

// typeCode names how one value of t is decoded; it registers the messages it refers to.
func typeCode(t reflect.Type) (string, error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := special[t]; ok {
		return s, nil
	}
	switch t.Kind() {
	case reflect.String:
		return "string", nil
	case reflect.Bool:
		return "bool", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int", nil
	case reflect.Float64:
		return "double", nil
	case reflect.Float32:
		return "float", nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes", nil
		}
		// A named slice with a Marshal of its own is a message of one repeated field (ExtraValue).
		if t.Name() != "" && reflect.PointerTo(t).Implements(marshaler) {
			inner, err := typeCode(t.Elem())
			if err != nil {
				return "", err
			}
			n := name(t)
			if _, seen := messages[n]; !seen {
				messages[n] = []field{{num: 1, json: "", typ: inner, flags: repeated}}
			}
			return "list:" + n, nil
		}
		return "", fmt.Errorf("slice of %s outside a field", t.Elem())
	case reflect.Map:
		k, err := typeCode(t.Key())
		if err != nil {
			return "", err
		}
		v, err := valueCode(t.Elem())
		if err != nil {
			return "", err
		}
		return "map:" + k + ":" + v, nil
	case reflect.Struct:
		// JSON written by a method this table does not know: refuse rather than guess.
		if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
			return "", fmt.Errorf("%s has a MarshalJSON of its own", t)
		}
		return "m:" + register(t), nil
	}
	return "", fmt.Errorf("%s (%s) has no protobuf decoding here", t, t.Kind())
}

// valueCode is typeCode for a repeated field's element or a map's value.
func valueCode(t reflect.Type) (string, error) {
	if t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 && !(t.Name() != "" && reflect.PointerTo(t).Implements(marshaler)) {
		return "", fmt.Errorf("nested slice %s", t)
	}
	return typeCode(t)
}

func register(t reflect.Type) string {
	n := name(t)
	if _, seen := messages[n]; seen {
		return n
	}
	messages[n] = nil // placeholder for recursion
	var fields []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("protobuf")
		if tag == "" || !f.IsExported() {
			continue
		}
		parts := strings.Split(tag, ",")
		num, err := strconv.Atoi(parts[1])
		if err != nil {
			unsupported[n] = "bad protobuf tag " + tag
			continue
		}
		jsonTag := f.Tag.Get("json")
		if jsonTag == "-" {
			continue
		}
		jparts := strings.Split(jsonTag, ",")
		fl := 0
		for _, o := range jparts[1:] {
			if o == "omitempty" {
				fl |= omitEmpty
			}
			if o == "omitzero" {
				fl |= omitZero
			}
			if o == "inline" {
				fl |= inline
			}
		}
		jsonName := jparts[0]
		if jsonName == "" && f.Anonymous {
			fl |= inline
		}
		if jsonName == "" && fl&inline == 0 {
			jsonName = f.Name
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			fl |= pointer
		}
		var code string
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 && !(ft.Name() != "" && reflect.PointerTo(ft).Implements(marshaler)) {
			fl |= repeated
			code, err = valueCode(ft.Elem())
		} else {
			code, err = typeCode(ft)
		}
		if err == nil && fl&omitZero != 0 && code != "time" && code != "microtime" {
			err = fmt.Errorf("omitzero on %s", code)
		}
		if err != nil {
			unsupported[n] = f.Name + ": " + err.Error()
			continue
		}
		fields = append(fields, field{num: num, json: jsonName, typ: code, flags: fl})
	}
	messages[n] = fields
	return n
}

func main() {
	kinds := map[string]string{}
	for gvk, t := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || t.Kind() != reflect.Struct {
			continue
		}
		if _, ok := reflect.New(t).Interface().(interface{ Marshal() ([]byte, error) }); !ok {
			continue
		}
		// Objects a watch can carry (they have metadata), in GA versions: alpha and beta kinds are
		// read as JSON. The table stays small (it is loaded by every process that watches).
		if f, ok := t.FieldByName("ObjectMeta"); !ok || f.Type != reflect.TypeOf(metav1.ObjectMeta{}) {
			continue
		}
		if strings.Contains(gvk.Version, "alpha") || strings.Contains(gvk.Version, "beta") {
			continue
		}
		kinds[gvk.GroupVersion().String()+"/"+gvk.Kind] = register(t)
	}
	// What a watch may carry besides its kind's objects.
	kinds["v1/Status"] = register(reflect.TypeOf(metav1.Status{}))

	var b strings.Builder
	b.WriteString("// Generated by scripts/protobuf-schema (npm run generate:protobuf-schema) from the Go types of\n")
	b.WriteString("// k8s.io/api and k8s.io/apimachinery " + version() + ". Do not edit.\n")
	b.WriteString("// A message: its fields, space-separated, each \"number,JSON name,type,flags\"; see ./schema.ts.\n")
	b.WriteString("export const KINDS: Record<string, string> = {\n")
	for _, k := range sortedKeys(kinds) {
		if reason, bad := closureUnsupported(kinds[k], map[string]bool{}); bad {
			fmt.Fprintf(os.Stderr, "skipped %s: %s\n", k, reason)
			continue
		}
		fmt.Fprintf(&b, "  %q: %q,\n", k, kinds[k])
	}
	b.WriteString("};\n\nexport const MESSAGES: Record<string, string> = {\n")
	reachable := map[string]bool{}
	for _, k := range sortedKeys(kinds) {
		if _, bad := closureUnsupported(kinds[k], map[string]bool{}); !bad {
			reach(kinds[k], reachable)
		}
	}
	for _, n := range sortedKeys(messages) {
		if _, bad := unsupported[n]; bad || !reachable[n] {
			continue
		}
		parts := make([]string, len(messages[n]))
		for i, f := range messages[n] {
			parts[i] = fmt.Sprintf("%d,%s,%s,%d", f.num, f.json, f.typ, f.flags)
		}
		fmt.Fprintf(&b, "  %q: %q,\n", n, strings.Join(parts, " "))
	}
	b.WriteString("};\n")
	if err := os.WriteFile(os.Args[1], []byte(b.String()), 0o644); err != nil {
		panic(err)
	}
}

func closureUnsupported(n string, seen map[string]bool) (string, bool) {
	if seen[n] {
		return "", false
	}
	seen[n] = true
	if r, bad := unsupported[n]; bad {
		return n + ": " + r, true
	}
	for _, f := range messages[n] {
		for _, ref := range refs(f.typ) {
			if r, bad := closureUnsupported(ref, seen); bad {
				return r, true
			}
		}
	}
	return "", false
}

func reach(n string, seen map[string]bool) {
	if seen[n] {
		return
	}
	seen[n] = true
	for _, f := range messages[n] {
		for _, ref := range refs(f.typ) {
			reach(ref, seen)
		}
	}
}

func refs(code string) []string {
	var out []string
	switch {
	case strings.HasPrefix(code, "m:"), strings.HasPrefix(code, "list:"):
		out = append(out, code[strings.Index(code, ":")+1:])
	case strings.HasPrefix(code, "map:"):
		rest := code[4:]
		v := rest[strings.Index(rest, ":")+1:]
		out = append(out, refs(v)...)
	}
	return out
}

func version() string {
	return "v0.36.3"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
