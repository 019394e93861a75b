package protocol

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/micromdm/plist"
)

// reference is what the plist encoder writes for a message.
func reference(t testing.TB, v any) []byte {
	t.Helper()
	if r, ok := v.(*Result); ok {
		m := map[string]any{"Status": string(r.Status)}
		for k, s := range map[string]string{"UDID": r.UDID, "EnrollmentID": r.EnrollmentID, "CommandUUID": r.CommandUUID} {
			if s != "" {
				m[k] = s
			}
		}
		v = m
	}
	b, err := plist.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var awkward = []string{"", "A", "00008103-001C2D3A0E38001E", "Anna’s MacBook Pro", "a&b", "<x>", "quote\"", "it's", "tab\there",
	"line\nbreak", "cr\r", "\x00", "bad\xffutf8", "\uFFFE", "é", "com.apple.mgmt.External.6d646d73", "15.6.1", "24G90", "日本語"}

func pick(r *rand.Rand) string { return awkward[r.IntN(len(awkward))] }

// The fast writer and the encoder write the same bytes, whatever the
// values: where the fast one declines, MarshalCheckin uses the encoder.
func TestFastPlistMatchesEncoder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		e := Enrollment{UDID: pick(r), EnrollmentID: pick(r), UserID: pick(r)}
		var token []byte
		if r.IntN(4) > 0 {
			token = make([]byte, r.IntN(40))
			for j := range token {
				token[j] = byte(r.UintN(256))
			}
		}
		msgs := []CheckinMessage{
			&Authenticate{MessageType: "Authenticate", Enrollment: e, Topic: pick(r), SerialNumber: pick(r), DeviceName: pick(r),
				Model: pick(r), ModelName: pick(r), ProductName: pick(r), OSVersion: pick(r), BuildVersion: pick(r), IMEI: pick(r), MEID: pick(r)},
			&TokenUpdate{MessageType: "TokenUpdate", Enrollment: e, Topic: pick(r), Token: token, PushMagic: pick(r)},
			&CheckOut{MessageType: "CheckOut", Enrollment: e, Topic: pick(r)},
		}
		for _, m := range msgs {
			have, err := MarshalCheckin(m)
			if err != nil {
				t.Fatal(err)
			}
			if want := reference(t, m); !bytes.Equal(have, want) {
				t.Fatalf("%d %T:\nhave %s\nwant %s", i, m, have, want)
			}
		}
		res := &Result{UDID: pick(r), EnrollmentID: pick(r), CommandUUID: pick(r), Status: []Status{StatusIdle, StatusAcknowledged, StatusNotNow}[r.IntN(3)]}
		have, err := res.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, res); !bytes.Equal(have, want) {
			t.Fatalf("%d result:\nhave %s\nwant %s", i, have, want)
		}
	}
}

// The common messages take the fast path (else the test above proves
// nothing about it).
func TestFastPlistTaken(t *testing.T) {
	t.Parallel()
	for _, m := range []CheckinMessage{
		&Authenticate{MessageType: "Authenticate", Enrollment: Enrollment{UDID: "U"}, Topic: "t", DeviceName: "Anna’s Mac"},
		&TokenUpdate{MessageType: "TokenUpdate", Enrollment: Enrollment{UDID: "U"}, Topic: "t", Token: []byte{1, 2}, PushMagic: "M"},
	} {
		if _, ok := marshalCheckinFast(m); !ok {
			t.Errorf("%T not written fast", m)
		}
	}
	if _, ok := (&Result{UDID: "U", Status: StatusIdle}).marshalFast(); !ok {
		t.Error("Idle not written fast")
	}
}

func FuzzFastPlist(f *testing.F) {
	f.Add("U", "t", []byte{1}, "M")
	f.Fuzz(func(t *testing.T, udid, topic string, token []byte, magic string) {
		m := &TokenUpdate{MessageType: "TokenUpdate", Enrollment: Enrollment{UDID: udid}, Topic: topic, Token: token, PushMagic: magic}
		have, err := MarshalCheckin(m)
		if err != nil {
			return
		}
		if want := reference(t, m); !bytes.Equal(have, want) {
			t.Fatal(fmt.Sprintf("have %q\nwant %q", have, want))
		}
	})
}

func BenchmarkMarshalIdle(b *testing.B) {
	r := &Result{UDID: "00008103-001C2D3A0E38001E", Status: StatusIdle}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
