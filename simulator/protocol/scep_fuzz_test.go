package protocol

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/micromdm/scep/v2/cryptoutil/x509util"
	"github.com/smallstep/scep"
)

// scepWorld is a CA and a device half-way through a SCEP enrollment: what
// a CertRep is read against.
type scepWorld struct {
	caCert  *x509.Certificate
	caKey   *rsa.PrivateKey
	key     *rsa.PrivateKey
	self    *x509.Certificate
	request *scep.PKIMessage // the device's PKCSReq, as the CA parsed it
	issued  *x509.Certificate
}

// testKey reads a fixed RSA key from testdata/scep: generating one costs
// seconds in a fuzzing worker, whose crypto is instrumented.
func testKey(tb testing.TB, name string) *rsa.PrivateKey {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "scep", name+".key"))
	if err != nil {
		tb.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		tb.Fatalf("%s.key: no PEM block", name)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func newSCEPWorld(tb testing.TB) *scepWorld {
	tb.Helper()
	w := &scepWorld{caKey: testKey(tb, "ca"), key: testKey(tb, "device")}
	var err error
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1000), Subject: pkix.Name{CommonName: "Fuzz SCEP CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &w.caKey.PublicKey, w.caKey)
	if err != nil {
		tb.Fatal(err)
	}
	w.caCert, _ = x509.ParseCertificate(der)
	subject := pkix.Name{CommonName: "UDID-1"}
	csrDER, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: subject}, ChallengePassword: "secret"}, w.key)
	if err != nil {
		tb.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	if w.self, err = selfSigned(w.key, subject); err != nil {
		tb.Fatal(err)
	}
	msg, err := scep.NewCSRRequest(csr, &scep.PKIMessage{MessageType: scep.PKCSReq, Recipients: []*x509.Certificate{w.caCert},
		SignerKey: w.key, SignerCert: w.self, CSRReqMessage: &scep.CSRReqMessage{ChallengePassword: "secret"}})
	if err != nil {
		tb.Fatal(err)
	}
	if w.request, err = scep.ParsePKIMessage(msg.Raw); err != nil {
		tb.Fatal(err)
	}
	if err := w.request.DecryptPKIEnvelope(w.caCert, w.caKey); err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, w.caCert, &w.key.PublicKey, w.caKey)
	if err != nil {
		tb.Fatal(err)
	}
	w.issued, _ = x509.ParseCertificate(der)
	return w
}

// FuzzSCEPGetCACert: whatever a SCEP server answers GetCACert with, the
// device reads certificates or fails with ErrSCEP, never panics.
func FuzzSCEPGetCACert(f *testing.F) {
	w := newSCEPWorld(f)
	degenerate, err := scep.DegenerateCertificates([]*x509.Certificate{w.caCert, w.self})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(w.caCert.Raw, false)
	f.Add(degenerate, true)
	f.Add(degenerate, false)
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01}, true)
	f.Fuzz(func(t *testing.T, data []byte, raCert bool) {
		contentType := "application/x-x509-ca-cert"
		if raCert {
			contentType = "application/x-x509-ca-ra-cert"
		}
		certs, err := parseCACerts(data, contentType)
		switch {
		case err != nil && !errors.Is(err, ErrSCEP):
			t.Fatalf("error %v does not wrap ErrSCEP", err)
		case err == nil && len(certs) == 0:
			t.Fatal("no error and no certificate")
		}
		for _, c := range certs {
			if c == nil {
				t.Fatal("a nil certificate")
			}
		}
	})
}

// FuzzSCEPCertRep: whatever a SCEP server answers a PKCSReq with, the
// device gets its certificate or fails with ErrSCEP, never panics.
func FuzzSCEPCertRep(f *testing.F) {
	w := newSCEPWorld(f)
	ok, err := w.request.Success(w.caCert, w.caKey, w.issued)
	if err != nil {
		f.Fatal(err)
	}
	fail, err := w.request.Fail(w.caCert, w.caKey, scep.BadRequest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ok.Raw)
	f.Add(fail.Raw)
	f.Add(w.request.Raw) // a PKCSReq echoed back
	cas := []*x509.Certificate{w.caCert}
	f.Fuzz(func(t *testing.T, data []byte) {
		cert, err := parseCertRep(data, cas, w.self, w.key)
		switch {
		case err != nil && !errors.Is(err, ErrSCEP):
			t.Fatalf("error %v does not wrap ErrSCEP", err)
		case err == nil && cert == nil:
			t.Fatal("no error and no certificate")
		}
	})
}

// TestSCEPCertRepSeeds: the seeds are what they claim, so the fuzzer
// starts from real answers.
func TestSCEPCertRepSeeds(t *testing.T) {
	t.Parallel()
	w := newSCEPWorld(t)
	ok, err := w.request.Success(w.caCert, w.caKey, w.issued)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertRep(ok.Raw, []*x509.Certificate{w.caCert}, w.self, w.key)
	if err != nil || !cert.Equal(w.issued) {
		t.Fatalf("CertRep of success: %v, %v", cert, err)
	}
	fail, err := w.request.Fail(w.caCert, w.caKey, scep.BadRequest)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCertRep(fail.Raw, []*x509.Certificate{w.caCert}, w.self, w.key); !errors.Is(err, ErrSCEP) {
		t.Fatalf("CertRep of failure: %v, want ErrSCEP", err)
	}
	if _, err := parseCACerts(w.caCert.Raw, "application/x-x509-ca-cert"); err != nil {
		t.Fatal(err)
	}
}
