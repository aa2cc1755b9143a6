package config

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// apiKey checks an apiKey middleware: keys with ids and SHA-256 hashes,
// each once, and header names.
func (v *validator) apiKey(p string, a *APIKey) {
	if len(a.Keys) == 0 && a.KeysFile == "" {
		v.add(p, "keys or keysFile is required")
	}
	v.fileExists(p+".keysFile", a.KeysFile)
	ids, sums := map[string]int{}, map[string]int{}
	for i, k := range a.Keys {
		kp := fmt.Sprintf("%s.keys[%d]", p, i)
		if msg := APIKeyIDProblem(k.ID); msg != "" {
			v.add(kp+".id", "%s", msg)
		} else if j, dup := ids[k.ID]; dup {
			v.add(kp+".id", "%q is the id of keys[%d] too", k.ID, j)
		} else {
			ids[k.ID] = i
		}
		sum := strings.ToLower(k.SHA256)
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			// The value is not shown: someone may have put the key itself here.
			v.add(kp+".sha256", "must be the 64 hex digits of the key's SHA-256 (printf %%s \"$KEY\" | sha256sum)")
		} else if j, dup := sums[sum]; dup {
			v.add(kp+".sha256", "is the hash of keys[%d] too", j)
		} else {
			sums[sum] = i
		}
	}
	for _, h := range []struct{ key, val string }{{"header", a.Header}, {"idHeader", a.IDHeader}} {
		if h.val != "" && (!isToken(h.val) || isFramingField(h.val)) {
			v.add(p+"."+h.key, "%q is not a header name usher can use", h.val)
		}
	}
	header := a.Header
	if header == "" {
		header = APIKeyHeader
	}
	if a.IDHeader != "" && strings.EqualFold(a.IDHeader, header) {
		v.add(p+".idHeader", "cannot be the header the key comes in")
	}
	if strings.ContainsAny(a.Query, "&=#") {
		v.add(p+".query", "%q is not a query parameter name", a.Query)
	}
}

// APIKeyIDProblem says what is wrong with an API key's id, "" when
// nothing: it goes in a request header and the access log, so it is
// printable ASCII, at most 128 bytes.
func APIKeyIDProblem(id string) string {
	if id == "" {
		return "an id is required"
	}
	if len(id) > 128 {
		return "an id is at most 128 bytes"
	}
	for i := 0; i < len(id); i++ {
		if id[i] < ' ' || id[i] > '~' {
			return fmt.Sprintf("%q has a character other than printable ASCII", id)
		}
	}
	return ""
}
