package protocol_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// seedProfile is an enrollment profile as an MDM server serves one: an
// anchor, a SCEP payload and the MDM payload naming it.
func seedProfile() *protocol.EnrollmentProfile {
	return &protocol.EnrollmentProfile{
		PayloadIdentifier: "com.example.mdm.enroll",
		PayloadUUID:       "6C1E3D4A-7F2B-4E8A-9C1D-2B3A4F5E6D7C",
		MDM: protocol.MDMPayload{
			PayloadType: protocol.PayloadTypeMDM, PayloadVersion: 1,
			PayloadIdentifier: "com.example.mdm.enroll.mdm", PayloadUUID: "0F9E8D7C-6B5A-4938-2716-05F4E3D2C1B0",
			ServerURL: "https://mdm.example.com/mdm", CheckInURL: "https://mdm.example.com/checkin",
			Topic: "com.apple.mgmt.External.7a3c1e2b", IdentityCertificateUUID: "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D",
			SignMessage: true, AccessRights: 8191, CheckOutWhenRemoved: true,
			ServerCapabilities: []string{"com.apple.mdm.per-user-connections", "com.apple.mdm.bootstraptoken"},
		},
		SCEP: &protocol.SCEPPayload{
			PayloadType: protocol.PayloadTypeSCEP, PayloadVersion: 1,
			PayloadIdentifier: "com.example.mdm.enroll.scep", PayloadUUID: "A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D",
			PayloadContent: protocol.SCEPPayloadContent{
				URL: "https://mdm.example.com/scep", Name: "mdm", Challenge: "secret",
				Keysize: 2048, KeyType: "RSA", KeyUsage: 5,
				Subject: [][][]string{{{"O", "Example"}}, {{"CN", "device"}}},
			},
		},
		Certificates: [][]byte{[]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
	}
}

// signProfile wraps body in a CMS SignedData made with a throwaway
// self-signed ECDSA certificate, as a server signs its enrollment profile.
func signProfile(tb testing.TB, body []byte) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "profile signer"},
		// Fixed and wide: the seed must keep verifying whenever the fuzzer runs.
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	sd, err := pkcs7.NewSignedData(body)
	if err != nil {
		tb.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		tb.Fatal(err)
	}
	out, err := sd.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestParseProfileSigned(t *testing.T) {
	t.Parallel()
	body, err := seedProfile().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	signed := signProfile(t, body)
	p, err := protocol.ParseProfile(signed)
	if err != nil {
		t.Fatalf("ParseProfile(signed): %v", err)
	}
	if !p.Signed {
		t.Error("signed profile parsed with Signed false")
	}
	want := seedProfile()
	want.Signed = true
	if !reflect.DeepEqual(p, want) {
		t.Errorf("signed profile:\n have %+v\n want %+v", p, want)
	}
	// A flipped byte in the signed content fails verification.
	i := bytes.Index(signed, []byte("mdm.example.com"))
	if i < 0 {
		t.Fatal("content not found in the signed profile")
	}
	tampered := bytes.Clone(signed)
	tampered[i] ^= 1
	if _, err := protocol.ParseProfile(tampered); !errors.Is(err, protocol.ErrBadProfile) {
		t.Errorf("tampered profile: %v, want ErrBadProfile", err)
	}
}

// A binary plist can hold strings XML cannot; the XML re-encoding inside
// ParseProfile (and Marshal) turned them into U+FFFD, so the profile a device
// used differed from the one served, and the top-level fields, decoded
// directly, disagreed with the payloads. They are refused.
func TestParseProfileRejectsNonXMLStrings(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"com.example\x01", "com.example\xff", "com.example\ufffe"} {
		if p, err := protocol.ParseProfile(binaryProfile(id)); !errors.Is(err, protocol.ErrBadProfile) {
			t.Errorf("PayloadIdentifier %q: %+v, %v; want ErrBadProfile", id, p, err)
		}
	}
	for _, id := range []string{"com.example", "tab\tcr\rnl\n", "\ufffd\U0001F600"} {
		p, err := protocol.ParseProfile(binaryProfile(id))
		if err != nil || p.PayloadIdentifier != id {
			t.Errorf("PayloadIdentifier %q: %+v, %v", id, p, err)
		}
	}
}

// FuzzParseProfile feeds arbitrary enrollment profiles, plain or CMS-signed,
// to the parser a device runs on what an MDM server serves: it must not
// panic, must return a profile with its required fields or an error, and a
// profile it accepts must survive Marshal and a second parse unchanged.
func FuzzParseProfile(f *testing.F) {
	body, err := seedProfile().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(signProfile(f, body))
	minimal := seedProfile()
	minimal.SCEP, minimal.Certificates = nil, nil
	minimal.MDM.CheckInURL, minimal.MDM.ServerCapabilities = "", nil
	b, err := minimal.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(signProfile(f, b))
	f.Add([]byte(`<plist><dict><key>PayloadType</key><string>Configuration</string><key>PayloadContent</key><array>` +
		`<dict><key>PayloadType</key><string>com.apple.mdm</string><key>Topic</key><string>com.apple.mgmt.x</string>` +
		`<key>ServerURL</key><string>http://h/</string><key>IdentityCertificateUUID</key><string>u</string></dict>` +
		`<dict><key>PayloadType</key><string>com.apple.security.pem</string><key>PayloadContent</key><data>AAEC</data></dict>` +
		`</array></dict></plist>`))
	f.Add([]byte(`<plist><dict><key>PayloadType</key><string>Configuration</string><key>PayloadContent</key><array>` +
		`<dict><key>PayloadType</key><string>com.apple.mdm</string></dict><dict><key>PayloadType</key><string>com.apple.mdm</string></dict>` +
		`</array></dict></plist>`))
	f.Add(binaryProfile("com.example.enroll"))
	f.Add(signProfile(f, binaryProfile("com.example.enroll")))
	f.Add([]byte("0\x82\x00\x10\x06\x09*\x86H\x86\xf7\r\x01\x07\x02"))
	f.Add([]byte("bplist00\xd1\x01\x02"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := protocol.ParseProfile(data)
		if err != nil {
			if p != nil {
				t.Fatalf("profile %+v returned with error %v", p, err)
			}
			return
		}
		if p == nil {
			t.Fatal("nil profile without an error")
		}
		checkRequired(t, p)
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed profile: %v", err)
		}
		q, err := protocol.ParseProfile(out)
		if err != nil {
			t.Fatalf("parse of a marshalled profile: %v\n%s", err, out)
		}
		if q.Signed {
			t.Error("Marshal output parsed as signed")
		}
		want := *p
		want.Signed = false
		// Marshal leaves out empty optional lists (omitempty): nil and
		// empty are the same profile.
		if len(want.MDM.ServerCapabilities) == 0 {
			want.MDM.ServerCapabilities = nil
		}
		if want.SCEP != nil && len(want.SCEP.PayloadContent.Subject) == 0 {
			s := *want.SCEP
			s.PayloadContent.Subject = nil
			want.SCEP = &s
		}
		if !reflect.DeepEqual(q, &want) {
			t.Fatalf("round trip changed the profile:\n have %#v\n want %#v", q, &want)
		}
	})
}

// checkRequired asserts what ParseProfile promises of a profile it accepts.
func checkRequired(t *testing.T, p *protocol.EnrollmentProfile) {
	t.Helper()
	m := p.MDM
	if m.PayloadType != protocol.PayloadTypeMDM {
		t.Errorf("MDM payload type %q", m.PayloadType)
	}
	if !strings.HasPrefix(m.Topic, "com.apple.mgmt.") {
		t.Errorf("Topic %q", m.Topic)
	}
	if m.IdentityCertificateUUID == "" {
		t.Error("no IdentityCertificateUUID")
	}
	for _, u := range []string{m.ServerURL, p.CheckInURL()} {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			t.Errorf("URL %q accepted", u)
		}
	}
	if p.SCEP != nil && (p.SCEP.PayloadType != protocol.PayloadTypeSCEP || p.SCEP.PayloadUUID != m.IdentityCertificateUUID) {
		t.Errorf("SCEP payload %+v does not match IdentityCertificateUUID %q", p.SCEP, m.IdentityCertificateUUID)
	}
}

// bplist encodes v (string, bool, int, []any, or kv: a dict with ordered
// keys) as a binary property list, the other form a server may serve.
func bplist(v any) []byte {
	var objs [][]byte
	var add func(v any) byte
	add = func(v any) byte {
		i := len(objs)
		objs = append(objs, nil)
		var b []byte
		switch v := v.(type) {
		case string:
			if len(v) < 15 {
				b = append([]byte{0x50 | byte(len(v))}, v...)
			} else {
				b = append([]byte{0x5f, 0x11, byte(len(v) >> 8), byte(len(v))}, v...)
			}
		case bool:
			b = []byte{0x08}
			if v {
				b[0] = 0x09
			}
		case int:
			b = []byte{0x13, 0, 0, 0, 0, 0, 0, 0, 0}
			for k := range 8 {
				b[8-k] = byte(uint64(v) >> (8 * k))
			}
		case []any:
			var refs []byte
			for _, e := range v {
				refs = append(refs, add(e))
			}
			b = append([]byte{0xa0 | byte(len(v))}, refs...)
		case kv:
			var ks, vs []byte
			for k := 0; k < len(v); k += 2 {
				ks = append(ks, add(v[k]))
				vs = append(vs, add(v[k+1]))
			}
			b = append(append([]byte{0xd0 | byte(len(v)/2)}, ks...), vs...)
		default:
			panic(fmt.Sprintf("bplist: %T", v))
		}
		objs[i] = b
		return byte(i)
	}
	add(v)
	out := []byte("bplist00")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = len(out)
		out = append(out, o...)
	}
	table := len(out)
	for _, o := range offsets {
		out = append(out, byte(o>>8), byte(o))
	}
	trailer := make([]byte, 32)
	trailer[6], trailer[7] = 2, 1                                  // offset size, object ref size
	trailer[14], trailer[15] = byte(len(objs)>>8), byte(len(objs)) // object count; the top object is 0
	trailer[30], trailer[31] = byte(table>>8), byte(table)         // offset table
	return append(out, trailer...)
}

// kv is a dictionary for bplist: key, value, key, value…
type kv []any

// binaryProfile is a minimal enrollment profile as a binary plist with the
// given top-level PayloadIdentifier.
func binaryProfile(id string) []byte {
	return bplist(kv{
		"PayloadType", "Configuration",
		"PayloadIdentifier", id,
		"PayloadUUID", "6C1E3D4A",
		"PayloadContent", []any{
			kv{
				"PayloadType", protocol.PayloadTypeMDM,
				"PayloadVersion", 1,
				"PayloadIdentifier", "com.example.enroll.mdm",
				"PayloadUUID", "0F9E8D7C",
				"ServerURL", "https://mdm.example.com/mdm",
				"Topic", "com.apple.mgmt.External.7a3c1e2b",
				"IdentityCertificateUUID", "A1B2C3D4",
				"SignMessage", true,
				"AccessRights", 8191,
			},
		},
	})
}
