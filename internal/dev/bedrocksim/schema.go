package bedrocksim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bedrock validates model bodies against a JSON schema and reports the
// violations in the words of the everit JSON-schema validator, wrapped as
// "Malformed input request: <violation>, please reformat your input and try
// again." The helpers below produce the same wording for the few keywords the
// embedding schemas use. Observed examples (see the package doc for sources):
//
//	#/texts/0: expected maxLength: 2048, actual: 19882
//	#/embedding_types: expected type: JSONArray, found: String
//	#: required key [texts] not found
//	#: extraneous key [dimensions] is not permitted

// violations collects schema violations in the order they are found.
type violations []string

func (v *violations) addf(format string, args ...any) {
	*v = append(*v, fmt.Sprintf(format, args...))
}

// err turns the collected violations into the ValidationException Bedrock
// sends, or nil if there are none. Like everit, more than one violation is
// summarised by its count.
func (v violations) err() *apiError {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return malformed(v[0])
	default:
		return malformed(fmt.Sprintf("#: %d schema violations found", len(v)))
	}
}

func malformed(detail string) *apiError {
	return newAPIError(errValidation,
		"Malformed input request: "+detail+", please reformat your input and try again.")
}

// parseObject decodes body as a JSON object whose values are kept raw, so
// that each key can be checked for its schema type.
func parseObject(body []byte) (map[string]json.RawMessage, *apiError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		if json.Valid(body) {
			return nil, malformed("#: expected type: JSONObject, found: " + jsonType(body))
		}
		// org.json's parse errors are not worth imitating; say what is wrong.
		return nil, malformed("body is not valid JSON: " + err.Error())
	}
	if obj == nil { // the literal null
		return nil, malformed("#: expected type: JSONObject, found: null")
	}
	return obj, nil
}

// checkKeys reports missing required keys and keys the schema does not allow.
// The embedding schemas forbid additional properties (Titan v1 answers
// "extraneous key [dimensions] is not permitted").
func checkKeys(v *violations, obj map[string]json.RawMessage, required, allowed []string) {
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			v.addf("#: required key [%s] not found", k)
		}
	}
	var extra []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra) // map order is random; messages must not be
	for _, k := range extra {
		v.addf("#: extraneous key [%s] is not permitted", k)
	}
}

// jsonType names the JSON value's type the way everit does (Java class
// names).
func jsonType(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case '"':
		return "String"
	case '[':
		return "JSONArray"
	case '{':
		return "JSONObject"
	case 't', 'f':
		return "Boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(raw, ".eE") {
		return "BigDecimal"
	}
	return "Integer"
}

// asString decodes a string-typed property, recording a type violation.
func asString(v *violations, path string, raw json.RawMessage) (string, bool) {
	var s string
	if jsonType(raw) != "String" || json.Unmarshal(raw, &s) != nil {
		v.addf("%s: expected type: String, found: %s", path, jsonType(raw))
		return "", false
	}
	return s, true
}

// asArray decodes an array-typed property into its raw items.
func asArray(v *violations, path string, raw json.RawMessage) ([]json.RawMessage, bool) {
	var items []json.RawMessage
	if jsonType(raw) != "JSONArray" || json.Unmarshal(raw, &items) != nil {
		v.addf("%s: expected type: JSONArray, found: %s", path, jsonType(raw))
		return nil, false
	}
	return items, true
}

// asBool decodes a boolean-typed property.
func asBool(v *violations, path string, raw json.RawMessage) (bool, bool) {
	var b bool
	if jsonType(raw) != "Boolean" || json.Unmarshal(raw, &b) != nil {
		v.addf("%s: expected type: Boolean, found: %s", path, jsonType(raw))
		return false, false
	}
	return b, true
}

// asInt decodes an integer-typed property.
func asInt(v *violations, path string, raw json.RawMessage) (int, bool) {
	if jsonType(raw) != "Integer" {
		v.addf("%s: expected type: Integer, found: %s", path, jsonType(raw))
		return 0, false
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
	if err != nil {
		v.addf("%s: expected type: Integer, found: BigInteger", path)
		return 0, false
	}
	return n, true
}

// checkEnum records an enum violation when s is not one of allowed.
func checkEnum(v *violations, path, s string, allowed []string) bool {
	if !slices.Contains(allowed, s) {
		v.addf("%s: %s is not a valid enum value", path, s)
		return false
	}
	return true
}

// checkMaxLength records a maxLength violation. JSON-schema lengths count
// code points, not bytes.
func checkMaxLength(v *violations, path, s string, max int) bool {
	if n := utf8.RuneCountInString(s); n > max {
		v.addf("%s: expected maxLength: %d, actual: %d", path, max, n)
		return false
	}
	return true
}

// stringEnumArray decodes an array of enum strings such as embedding_types.
// An empty array is refused: it would ask for no embeddings at all. (Guess:
// the documentation does not say.)
func stringEnumArray(v *violations, path string, raw json.RawMessage, allowed []string) []string {
	items, ok := asArray(v, path, raw)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		v.addf("%s: expected minimum item count: 1, found: 0", path)
		return nil
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		p := path + "/" + strconv.Itoa(i)
		s, ok := asString(v, p, it)
		if ok && checkEnum(v, p, s, allowed) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// containsAny reports whether any text contains marker.
func containsAny(texts []string, marker string) bool {
	if marker == "" {
		return false
	}
	return slices.ContainsFunc(texts, func(t string) bool { return strings.Contains(t, marker) })
}
