package protocol

import (
	"encoding/base64"
	"slices"
	"strings"
	"unicode/utf8"
)

// The messages a device sends most (check-ins and results without a
// payload) are flat dictionaries of strings and data. They are written
// here directly, byte for byte as the plist encoder writes them (a test
// holds the two together); anything else, or a string that would need XML
// escaping, goes through the encoder. The encoder allocates a 4 KB buffer
// and walks the value by reflection for every message.

const (
	plistHead = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n" +
		`<plist version="1.0"><dict>`
	plistTail = "</dict></plist>\n"
)

// flatEntry is one key of a flat dictionary: a string, or data when isData.
type flatEntry struct {
	key    string
	str    string
	data   []byte
	isData bool
}

// flatDict collects a flat dictionary's entries.
type flatDict struct {
	entries [12]flatEntry
	n       int
	ok      bool // every string is safe to write as it is
}

func newFlatDict() flatDict { return flatDict{ok: true} }

func (d *flatDict) add(key, value string) {
	if d.n == len(d.entries) {
		d.ok = false
		return
	}
	d.ok = d.ok && plainXML(key) && plainXML(value)
	d.entries[d.n] = flatEntry{key: key, str: value}
	d.n++
}

// addNonEmpty adds a string unless it is empty (the encoder's omitempty).
func (d *flatDict) addNonEmpty(key, value string) {
	if value != "" {
		d.add(key, value)
	}
}

func (d *flatDict) addData(key string, value []byte) {
	if d.n == len(d.entries) {
		d.ok = false
		return
	}
	d.ok = d.ok && plainXML(key)
	d.entries[d.n] = flatEntry{key: key, data: value, isData: true}
	d.n++
}

// bytes writes the dictionary as an XML plist, keys sorted; ok is false
// when it cannot be written here.
func (d *flatDict) bytes() ([]byte, bool) {
	if !d.ok {
		return nil, false
	}
	es := d.entries[:d.n]
	slices.SortFunc(es, func(a, b flatEntry) int { return strings.Compare(a.key, b.key) })
	size := len(plistHead) + len(plistTail)
	for _, e := range es {
		size += len("<key></key>") + len(e.key)
		if e.isData {
			size += len("<data></data>") + base64.StdEncoding.EncodedLen(len(e.data))
		} else {
			size += len("<string></string>") + len(e.str)
		}
	}
	out := make([]byte, 0, size)
	out = append(out, plistHead...)
	for _, e := range es {
		out = append(append(append(out, "<key>"...), e.key...), "</key>"...)
		if e.isData {
			out = append(out, "<data>"...)
			out = base64.StdEncoding.AppendEncode(out, e.data)
			out = append(out, "</data>"...)
		} else {
			out = append(append(append(out, "<string>"...), e.str...), "</string>"...)
		}
	}
	return append(out, plistTail...), true
}

// plainXML reports whether s is written into XML unchanged: valid UTF-8 in
// XML's character range, with nothing the encoder escapes.
func plainXML(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) {
			return false
		}
		i += size
	}
	return true
}

// marshalCheckinFast writes the common check-ins; ok is false for the rest.
func marshalCheckinFast(m CheckinMessage) ([]byte, bool) {
	d := newFlatDict()
	enrollment := func(e Enrollment) {
		d.addNonEmpty("UDID", e.UDID)
		d.addNonEmpty("EnrollmentID", e.EnrollmentID)
		d.addNonEmpty("UserID", e.UserID)
	}
	switch v := m.(type) {
	case *Authenticate:
		d.add("MessageType", v.MessageType)
		enrollment(v.Enrollment)
		d.add("Topic", v.Topic)
		d.addNonEmpty("SerialNumber", v.SerialNumber)
		d.addNonEmpty("DeviceName", v.DeviceName)
		d.addNonEmpty("Model", v.Model)
		d.addNonEmpty("ModelName", v.ModelName)
		d.addNonEmpty("ProductName", v.ProductName)
		d.addNonEmpty("OSVersion", v.OSVersion)
		d.addNonEmpty("BuildVersion", v.BuildVersion)
		d.addNonEmpty("IMEI", v.IMEI)
		d.addNonEmpty("MEID", v.MEID)
	case *TokenUpdate:
		if len(v.UnlockToken) > 0 || v.AwaitingConfiguration {
			return nil, false
		}
		d.add("MessageType", v.MessageType)
		enrollment(v.Enrollment)
		d.add("Topic", v.Topic)
		d.addData("Token", v.Token)
		d.add("PushMagic", v.PushMagic)
	case *CheckOut:
		d.add("MessageType", v.MessageType)
		enrollment(v.Enrollment)
		d.add("Topic", v.Topic)
	default:
		return nil, false
	}
	return d.bytes()
}

// marshalFast writes a result without a payload or an error chain.
func (r *Result) marshalFast() ([]byte, bool) {
	if len(r.Fields) > 0 || len(r.ErrorChain) > 0 {
		return nil, false
	}
	d := newFlatDict()
	d.addNonEmpty("UDID", r.UDID)
	d.addNonEmpty("EnrollmentID", r.EnrollmentID)
	d.addNonEmpty("CommandUUID", r.CommandUUID)
	d.add("Status", string(r.Status))
	return d.bytes()
}
