package appleschema

import (
	"encoding/json"
	"testing"
	"testing/fstest"
	"time"
)

func TestTypeOK(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		typ  string
		v    any
		enc  Encoding
		want bool
	}{
		{"<string>", "a", JSON, true},
		{"<string>", json.Number("1"), JSON, false},
		{"<integer>", json.Number("12"), JSON, true},
		{"<integer>", json.Number("1.5"), JSON, false},
		{"<integer>", uint64(7), Plist, true},
		{"<integer>", 1.0, Plist, false},
		{"<real>", json.Number("1.5"), JSON, true},
		{"<real>", 1.5, Plist, true},
		{"<real>", 3, Plist, false},
		{"<boolean>", true, JSON, true},
		{"<boolean>", "true", JSON, false},
		{"<date>", "2024-01-01T00:00:00Z", JSON, true},
		{"<date>", "2024-01-01T00:00:00Z", Plist, false},
		{"<date>", now, Plist, true},
		{"<data>", "AAAA", JSON, true},
		{"<data>", []byte{1}, Plist, true},
		{"<data>", "AAAA", Plist, false},
		{"<array>", []any{1}, JSON, true},
		{"<array>", []string{"a"}, Plist, true},
		{"<array>", []byte{1}, Plist, false},
		{"<dictionary>", map[string]any{}, JSON, true},
		{"<dictionary>", map[string]string{}, Plist, true},
		{"<dictionary>", map[int]any{}, Plist, false},
		{"<any>", "x", JSON, true},
		{"<any>", nil, JSON, false},
		{"<string>", nil, Plist, false},
	}
	for _, tt := range tests {
		if have := TypeOK(tt.typ, tt.v, tt.enc); have != tt.want {
			t.Errorf("TypeOK(%s, %#v, %v) = %v, want %v", tt.typ, tt.v, tt.enc, have, tt.want)
		}
	}
	if KnownType("<thing>") || !KnownType("<any>") {
		t.Error("KnownType")
	}
}

func TestInRangelist(t *testing.T) {
	t.Parallel()
	list := []any{"a", 1, 2.5, true}
	tests := []struct {
		v    any
		want bool
	}{
		{"a", true}, {"b", false}, {json.Number("1"), true}, {json.Number("1.0"), false},
		{json.Number("2.5"), true}, {1, true}, {uint64(1), true}, {2.5, true}, {true, true}, {false, false}, {nil, false},
	}
	for _, tt := range tests {
		if have := InRangelist(list, tt.v); have != tt.want {
			t.Errorf("InRangelist(%#v) = %v, want %v", tt.v, have, tt.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{{"14.4", "14.10", -1}, {"10.11.5", "11.0", -1}, {"15", "15.0", 0}, {"26.0.1", "26", 1}, {"13.0", "n/a", 1}}
	for _, tt := range tests {
		if have := CompareVersions(tt.a, tt.b); have != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, have, tt.want)
		}
	}
}

func TestWalk(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"s/a.yaml":    {Data: []byte("title: A\npayload:\n  requesttype: A\n  supportedOS:\n    iOS:\n      introduced: '16.0'\n      allowed-enrollments: [supervised]\npayloadkeys:\n- key: K\n  type: <integer>\n  presence: required\n  range: {min: 1}\n  rangelist: [1, 2]\n")},
		"s/notes.txt": {Data: []byte("ignored")},
		"s/bad.yaml":  {Data: []byte("title: [")},
	}
	var got []*Doc
	err := Walk(fsys, "s", func(_ string, d *Doc) error { got = append(got, d); return nil })
	if err == nil {
		t.Fatal("bad.yaml parsed")
	}
	delete(fsys, "s/bad.yaml")
	got = nil
	if err := Walk(fsys, "s", func(_ string, d *Doc) error { got = append(got, d); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d docs", len(got))
	}
	d := got[0]
	k := d.PayloadKeys[0]
	if d.Payload.RequestType != "A" || d.Payload.SupportedOS["iOS"].Introduced != "16.0" ||
		d.Payload.SupportedOS["iOS"].AllowedEnrollments[0] != "supervised" ||
		k.Name != "K" || k.Presence != "required" || *k.Range.Min != 1 || !InRangelist(k.Rangelist, 2) {
		t.Errorf("parsed %+v", d)
	}
}
