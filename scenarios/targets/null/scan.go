package null

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// The null server reads the few values it needs from a message without
// decoding the plist, when the message is a single flat dictionary in XML
// (check-ins, Idle, results without a payload): what a device sends most.
// Anything else (a nested dictionary, where a key may repeat, a binary
// plist, an escaped value, a comment or CDATA) falls back to the plist
// decoder.

var errNotFlat = errors.New("null: not a flat XML plist")

// flat is a message's body once checked to be one XML dictionary.
type flat []byte

// asFlat returns body as a flat dictionary, or false.
func asFlat(body []byte) (flat, bool) {
	if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("<?xml")) || bytes.Count(body, []byte("<dict")) != 1 ||
		bytes.Contains(body, []byte("<!--")) || bytes.Contains(body, []byte("<![CDATA[")) {
		return nil, false
	}
	return flat(body), true
}

// str returns the <string> value of key: ok is false when the key is
// absent; err is set when the value is not one the scan can read.
func (f flat) str(key string) (string, bool, error) {
	v, ok, err := f.value(key, "string")
	return string(v), ok, err
}

// data returns the decoded <data> value of key.
func (f flat) data(key string) ([]byte, bool, error) {
	v, ok, err := f.value(key, "data")
	if !ok || err != nil {
		return nil, ok, err
	}
	clean := make([]byte, 0, len(v))
	for _, c := range v {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			clean = append(clean, c)
		}
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
	n, err := base64.StdEncoding.Decode(out, clean)
	if err != nil {
		return nil, true, errNotFlat
	}
	return out[:n], true, nil
}

func (f flat) value(key, tag string) ([]byte, bool, error) {
	var needle [64]byte
	k := append(append(append(needle[:0], "<key>"...), key...), "</key>"...)
	i := bytes.Index(f, k)
	if i < 0 {
		return nil, false, nil
	}
	rest := bytes.TrimLeft(f[i+len(k):], " \t\r\n")
	open, closing := "<string>", "</string>"
	if tag == "data" {
		open, closing = "<data>", "</data>"
	}
	if !bytes.HasPrefix(rest, []byte(open)) {
		return nil, true, errNotFlat
	}
	rest = rest[len(open):]
	j := bytes.Index(rest, []byte(closing))
	if j < 0 || bytes.IndexAny(rest[:j], "<&") >= 0 {
		return nil, true, errNotFlat
	}
	return rest[:j], true, nil
}
