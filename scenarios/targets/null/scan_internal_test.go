package null

import (
	"reflect"
	"testing"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	switch m := v.(type) {
	case *protocol.Result:
		b, err = m.Marshal()
	case protocol.CheckinMessage:
		b, err = protocol.MarshalCheckin(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Scanned or decoded, a message reads the same.
func TestScanAgreesWithDecoder(t *testing.T) {
	t.Parallel()
	checkins := [][]byte{
		marshal(t, &protocol.Authenticate{Enrollment: protocol.Enrollment{UDID: "U-1"}, Topic: "t", SerialNumber: "S"}),
		marshal(t, &protocol.TokenUpdate{Enrollment: protocol.Enrollment{UDID: "U-2"}, Topic: "t", Token: []byte{0, 1, 2, 250, 251, 252, 253, 254, 255}, PushMagic: "M"}),
		marshal(t, &protocol.CheckOut{Enrollment: protocol.Enrollment{UDID: "U-3"}, Topic: "t"}),
		[]byte(`<?xml version="1.0"?><plist><dict><key>UDID</key><string>A&amp;B</string><key>MessageType</key><string>Authenticate</string></dict></plist>`),
		[]byte(`<?xml version="1.0"?><plist><dict><!-- <key>UDID</key><string>fake</string> --><key>UDID</key><string>real</string></dict></plist>`),
		[]byte(`<?xml version="1.0"?><plist><dict><key>UDID</key><integer>4</integer></dict></plist>`),
	}
	for i, body := range checkins {
		var want checkinMessage
		werr := plist.Unmarshal(body, &want)
		have, herr := decodeCheckin(body)
		if (werr == nil) != (herr == nil) || !reflect.DeepEqual(have, want) {
			t.Errorf("check-in %d: have %+v (%v), want %+v (%v)", i, have, herr, want, werr)
		}
	}
	results := [][]byte{
		marshal(t, &protocol.Result{UDID: "U-4", Status: protocol.StatusIdle}),
		marshal(t, &protocol.Result{UDID: "U-5", Status: protocol.StatusAcknowledged, CommandUUID: "C-1"}),
		marshal(t, &protocol.Result{UDID: "U-6", Status: protocol.StatusAcknowledged, CommandUUID: "C-2",
			Fields: map[string]any{"QueryResponses": map[string]any{"UDID": "nested"}}}),
	}
	for i, body := range results {
		var want resultMessage
		werr := plist.Unmarshal(body, &want)
		have, herr := decodeResult(body)
		if (werr == nil) != (herr == nil) || !reflect.DeepEqual(have, want) {
			t.Errorf("result %d: have %+v (%v), want %+v (%v)", i, have, herr, want, werr)
		}
	}
}

// Whatever the body, reading it never panics. (Agreement with the decoder
// is TestScanAgreesWithDecoder's: on arbitrary bodies the two differ by
// design, e.g. on a key given twice.)
func FuzzDecodeCheckin(f *testing.F) {
	f.Add(marshal(f, &protocol.TokenUpdate{Enrollment: protocol.Enrollment{UDID: "U"}, Token: []byte("tok"), PushMagic: "M"}))
	f.Add([]byte(`<?xml?><dict><key>UDID</key><string>`))
	f.Add([]byte(`<?xml?><dict><key>Token</key><data>!!!</data>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeCheckin(body)
		_, _ = decodeResult(body)
	})
}
