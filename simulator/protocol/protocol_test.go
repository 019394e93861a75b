package protocol_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/micromdm/nanomdm/cryptoutil"
	"github.com/micromdm/nanomdm/mdm"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckinRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want protocol.CheckinMessage
	}{
		{"authenticate_macos.plist", &protocol.Authenticate{
			MessageType:  "Authenticate",
			Enrollment:   protocol.Enrollment{UDID: "5B2C7E8A-1D34-4F5A-9B6C-7D8E9F0A1B2C"},
			Topic:        "com.apple.mgmt.External.462ad9c3-7ca1-437b-8c6f-5575941a4ea7",
			SerialNumber: "H2WDX5K9Q1", DeviceName: "Sim Mac", Model: "Mac14,2", ModelName: "MacBook Air",
			ProductName: "Mac14,2", OSVersion: "15.6", BuildVersion: "24G84",
		}},
		{"tokenupdate_ios.plist", &protocol.TokenUpdate{
			MessageType: "TokenUpdate",
			Enrollment:  protocol.Enrollment{UDID: "00008120-001A2B3C4D5E801E"},
			Topic:       "com.apple.mgmt.External.462ad9c3-7ca1-437b-8c6f-5575941a4ea7",
			Token: []byte{0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89,
				0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89},
			PushMagic: "3E1A2B7C-0D4E-4F5A-8B9C-0D1E2F3A4B5C",
		}},
		{"checkout.plist", &protocol.CheckOut{
			MessageType: "CheckOut",
			Enrollment:  protocol.Enrollment{UDID: "00008120-001A2B3C4D5E801E"},
			Topic:       "com.apple.mgmt.External.462ad9c3-7ca1-437b-8c6f-5575941a4ea7",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			have, err := protocol.UnmarshalCheckin(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(have, tt.want) {
				t.Fatalf("decode %s:\nhave %#v\nwant %#v", tt.file, have, tt.want)
			}
			// Our encoding must decode identically, and NanoMDM must read it too.
			enc, err := protocol.MarshalCheckin(have)
			if err != nil {
				t.Fatal(err)
			}
			again, err := protocol.UnmarshalCheckin(enc)
			if err != nil || !reflect.DeepEqual(again, tt.want) {
				t.Fatalf("round trip: have %#v (%v), want %#v", again, err, tt.want)
			}
			if _, err := mdm.DecodeCheckin(enc); err != nil {
				t.Fatalf("nanomdm cannot decode our %s: %v", tt.file, err)
			}
		})
	}
}

func TestNanoMDMReadsTokenUpdate(t *testing.T) {
	t.Parallel()
	token := bytes.Repeat([]byte{7}, 32)
	enc, err := protocol.MarshalCheckin(&protocol.TokenUpdate{
		Enrollment: protocol.Enrollment{UDID: "U1"}, Topic: "com.apple.mgmt.External.x", Token: token, PushMagic: "M",
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mdm.DecodeCheckin(enc)
	if err != nil {
		t.Fatal(err)
	}
	tu, ok := msg.(*mdm.TokenUpdate)
	if !ok {
		t.Fatalf("nanomdm decoded %T, want *mdm.TokenUpdate", msg)
	}
	if !bytes.Equal(tu.Token, token) || tu.PushMagic != "M" || tu.UDID != "U1" {
		t.Fatalf("nanomdm read %+v", tu)
	}
}

func TestUnmarshalCheckinErrors(t *testing.T) {
	t.Parallel()
	for name, body := range map[string][]byte{
		"empty":        nil,
		"not a plist":  []byte("hello"),
		"no type":      []byte(`<plist><dict><key>UDID</key><string>x</string></dict></plist>`),
		"unknown type": []byte(`<plist><dict><key>MessageType</key><string>Bogus</string></dict></plist>`),
		"wrong type":   []byte(`<plist><dict><key>MessageType</key><string>TokenUpdate</string><key>Token</key><dict/></dict></plist>`),
	} {
		if _, err := protocol.UnmarshalCheckin(body); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestDecodeCommand(t *testing.T) {
	t.Parallel()
	c, err := protocol.DecodeCommand(readTestdata(t, "command_deviceinformation.plist"))
	if err != nil {
		t.Fatal(err)
	}
	if c.CommandUUID != "0001_DeviceInformation" || c.RequestType != "DeviceInformation" {
		t.Fatalf("have %q %q", c.CommandUUID, c.RequestType)
	}
	p, err := protocol.DecodePayload[struct {
		Queries []string `plist:"Queries"`
	}](c)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"OSVersion", "BuildVersion", "SerialNumber"}; !reflect.DeepEqual(p.Queries, want) {
		t.Fatalf("queries: have %v want %v", p.Queries, want)
	}

	// A key of the wrong type is a format error, detected when the payload is read.
	c, err = protocol.DecodeCommand(readTestdata(t, "command_wrongtype.plist"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = protocol.DecodePayload[struct {
		Queries []string `plist:"Queries"`
	}](c)
	if !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("wrong type: have %v, want ErrMalformed", err)
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("a"), protocol.MaxCommandSize+1)
	tests := []struct {
		name     string
		body     []byte
		want     error
		wantUUID string
	}{
		{"empty", nil, protocol.ErrMalformed, ""},
		{"garbage", []byte("\x00\x01garbage"), protocol.ErrMalformed, ""},
		{"no uuid", []byte(`<plist><dict><key>Command</key><dict><key>RequestType</key><string>X</string></dict></dict></plist>`), protocol.ErrMissingCommandUUID, ""},
		{"no request type", []byte(`<plist><dict><key>CommandUUID</key><string>u1</string><key>Command</key><dict/></dict></plist>`), protocol.ErrMissingRequestType, "u1"},
		{"command not a dict", []byte(`<plist><dict><key>CommandUUID</key><string>u2</string><key>Command</key><string>x</string></dict></plist>`), protocol.ErrMalformed, "u2"},
		{"huge", big, protocol.ErrTooLarge, ""},
	}
	for _, tt := range tests {
		c, err := protocol.DecodeCommand(tt.body)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: have %v, want %v", tt.name, err, tt.want)
		}
		if c == nil || c.CommandUUID != tt.wantUUID {
			t.Errorf("%s: have command %+v, want UUID %q", tt.name, c, tt.wantUUID)
		}
	}
}

func TestResultRoundTrip(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"result_restart_ack.plist", "result_error_chain.plist"} {
		r, err := protocol.DecodeResult(readTestdata(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		enc, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := protocol.DecodeResult(enc)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("%s round trip: have %+v (%v), want %+v", file, again, err, r)
		}
		// NanoMDM must read what we send.
		nr, err := mdm.DecodeCommandResults(enc)
		if err != nil {
			t.Fatalf("%s: nanomdm: %v", file, err)
		}
		if nr.Status != string(r.Status) || nr.CommandUUID != r.CommandUUID {
			t.Fatalf("%s: nanomdm read %+v", file, nr)
		}
	}
	r, _ := protocol.DecodeResult(readTestdata(t, "result_error_chain.plist"))
	if want := protocol.InvalidRequestType("Bogus"); len(r.ErrorChain) != 1 || r.ErrorChain[0] != want {
		t.Fatalf("error chain: have %+v, want %+v", r.ErrorChain, want)
	}
}

func TestResultFields(t *testing.T) {
	t.Parallel()
	r := &protocol.Result{UDID: "U", CommandUUID: "C", Status: protocol.StatusAcknowledged,
		Fields: map[string]any{"QueryResponses": map[string]any{"OSVersion": "26.1", "BatteryLevel": 0.5}}}
	enc, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.DecodeResult(enc)
	if err != nil {
		t.Fatal(err)
	}
	qr, _ := got.Fields["QueryResponses"].(map[string]any)
	if qr["OSVersion"] != "26.1" || qr["BatteryLevel"] != 0.5 {
		t.Fatalf("QueryResponses: have %#v", got.Fields)
	}
	if _, err := (&protocol.Result{Status: "Bogus"}).Marshal(); err == nil {
		t.Fatal("invalid status marshalled")
	}
	if _, err := (&protocol.Result{Status: protocol.StatusIdle, Fields: map[string]any{"Status": "x"}}).Marshal(); err == nil {
		t.Fatal("reserved field marshalled")
	}
}

// newIdentity makes a CA-less self-signed identity of the given key type.
func newIdentity(t testing.TB, keyType string) *protocol.Identity {
	t.Helper()
	var key crypto.Signer
	var err error
	switch keyType {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "device"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &protocol.Identity{Certificate: cert, PrivateKey: key}
}

func credential(t testing.TB, id *protocol.Identity) *protocol.Credential {
	t.Helper()
	c, err := protocol.NewCredential(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMdmSignatureVerifiedByNanoMDM(t *testing.T) {
	t.Parallel()
	for _, kt := range []string{"rsa", "ecdsa"} {
		t.Run(kt, func(t *testing.T) {
			t.Parallel()
			id := newIdentity(t, kt)
			body := readTestdata(t, "authenticate_macos.plist")
			sig, err := protocol.SignMdmSignature(credential(t, id), body)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := cryptoutil.VerifyMdmSignature(sig, body)
			if err != nil {
				t.Fatalf("nanomdm rejects our %s signature: %v", kt, err)
			}
			if !cert.Equal(id.Certificate) {
				t.Fatal("signature carries another certificate")
			}
			tampered := append([]byte{}, body...)
			tampered[len(tampered)-10] ^= 1
			if _, err := cryptoutil.VerifyMdmSignature(sig, tampered); err == nil {
				t.Fatal("signature verified over a tampered body")
			}
		})
	}
}

func TestTransportSignsAndUsesMTLS(t *testing.T) {
	t.Parallel()
	type seen struct {
		sigCert, tlsCert *x509.Certificate
		contentType      string
	}
	got := make(chan seen, 4)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var s seen
		s.contentType = r.Header.Get("Content-Type")
		if h := r.Header.Get("Mdm-Signature"); h != "" {
			s.sigCert, _ = cryptoutil.VerifyMdmSignature(h, body)
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s.tlsCert = r.TLS.PeerCertificates[0]
		}
		got <- s
		if strings.Contains(string(body), "Idle") {
			w.Write(readTestdata(t, "command_deviceinformation.plist"))
		}
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr := protocol.NewTransport(protocol.WithRootCAs(pool), protocol.WithTimeout(5*time.Second))
	id := newIdentity(t, "ecdsa")
	ctx := context.Background()

	sess := tr.Session(credential(t, id), protocol.MdmSignature)
	if _, err := sess.Checkin(ctx, srv.URL, &protocol.CheckOut{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s.sigCert == nil || !s.sigCert.Equal(id.Certificate) || s.tlsCert != nil || s.contentType != protocol.ContentTypeCheckin {
		t.Fatalf("signature mode: server saw %+v", s)
	}
	sess.Close()

	sess = tr.Session(credential(t, id), protocol.MutualTLS)
	next, err := sess.Report(ctx, srv.URL, &protocol.Result{UDID: "U", Status: protocol.StatusIdle})
	if err != nil {
		t.Fatal(err)
	}
	s = <-got
	if s.tlsCert == nil || !s.tlsCert.Equal(id.Certificate) || s.sigCert != nil || s.contentType != protocol.ContentTypeCommand {
		t.Fatalf("mTLS mode: server saw %+v", s)
	}
	if c, err := protocol.DecodeCommand(next); err != nil || c.RequestType != "DeviceInformation" {
		t.Fatalf("next command: %+v %v", c, err)
	}
	sess.Close()
}

func TestTransportHTTPError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusBadRequest)
	}))
	defer srv.Close()
	sess := protocol.NewTransport().Session(credential(t, newIdentity(t, "ecdsa")), protocol.MdmSignature)
	_, err := sess.Checkin(context.Background(), srv.URL, &protocol.CheckOut{Topic: "t"})
	var he *protocol.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadRequest {
		t.Fatalf("have %v, want HTTPError 400", err)
	}
}
