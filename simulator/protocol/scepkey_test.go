package protocol

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kitlog "github.com/go-kit/kit/log"
	scepserver "github.com/micromdm/scep/v2/server"
	"github.com/smallstep/scep"
)

// newSCEPServer is a SCEP CA (the fixed test key) that signs every CSR
// with the right challenge.
func newSCEPServer(t *testing.T) *httptest.Server {
	t.Helper()
	caKey := testKey(t, "ca")
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test SCEP CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	var serial atomic.Int64
	sign := func(_ context.Context, m *scep.CSRReqMessage) (*x509.Certificate, error) {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial.Add(1) + 1), Subject: m.CSR.Subject,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, m.CSR.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		return x509.ParseCertificate(der)
	}
	svc, err := scepserver.NewService(ca, caKey, scepserver.StaticChallengeMiddleware("secret", scepserver.CSRSignerContextFunc(sign)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(scepserver.MakeHTTPHandler(scepserver.MakeServerEndpoints(svc), svc, kitlog.NewNopLogger()))
	t.Cleanup(srv.Close)
	return srv
}

// A device with a key source enrolls with the source's key, and a source
// that fails, or gives a key of the wrong size, fails the enrollment
// before anything is sent.
func TestSCEPKeySource(t *testing.T) {
	t.Parallel()
	srv := newSCEPServer(t)
	p := &SCEPPayload{PayloadContent: SCEPPayloadContent{URL: srv.URL + "/scep", Challenge: "secret", Keysize: 1024,
		Subject: [][][]string{{{"CN", "%HardwareUUID%"}}}}}
	key := testKey(t, "device") // 1024 bits: cheap, and what the payload asks for
	var asked []string
	dev := SCEPDevice{UDID: "UDID-1", Keys: func(udid string, bits int) (*rsa.PrivateKey, error) {
		asked = append(asked, udid)
		if bits != 1024 {
			t.Errorf("asked for %d bits, want the payload's 1024", bits)
		}
		return key, nil
	}}
	id, err := SCEPEnroll(t.Context(), srv.Client(), p, dev)
	if err != nil {
		t.Fatal(err)
	}
	if id.PrivateKey != key || !key.PublicKey.Equal(id.Certificate.PublicKey) {
		t.Error("the identity is not the source's key")
	}
	if len(asked) != 1 || asked[0] != "UDID-1" || id.Certificate.Subject.CommonName != "UDID-1" {
		t.Errorf("source asked for %v, certificate for %q", asked, id.Certificate.Subject.CommonName)
	}

	errSource := errors.New("no key for you")
	for name, src := range map[string]SCEPKeySource{
		"error":      func(string, int) (*rsa.PrivateKey, error) { return nil, errSource },
		"nil":        func(string, int) (*rsa.PrivateKey, error) { return nil, nil },
		"wrong size": func(string, int) (*rsa.PrivateKey, error) { return key, nil },
	} {
		p := *p
		p.PayloadContent.URL = "http://127.0.0.1:1/never-asked"
		if name == "wrong size" {
			p.PayloadContent.Keysize = 2048
		}
		_, err := SCEPEnroll(t.Context(), srv.Client(), &p, SCEPDevice{UDID: "UDID-2", Keys: src})
		if !errors.Is(err, ErrSCEP) || (name == "error" && !errors.Is(err, errSource)) {
			t.Errorf("%s: have %v, want ErrSCEP (wrapping the source's error)", name, err)
		}
		// Refused before anything is sent: the URL above answers nothing,
		// so a connection error would mean the key was not checked.
		if name != "error" && (err == nil || !strings.Contains(err.Error(), "the key source gave no")) {
			t.Errorf("%s: have %v, want the key refused before any request", name, err)
		}
	}
}
