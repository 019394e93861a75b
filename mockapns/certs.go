package mockapns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mdmsim/mdmsim/internal/pki"
)

// OIDUserID is the X.500 UID attribute (0.9.2342.19200300.100.1.1). Apple
// puts the push topic there in the Subject of a push certificate.
var OIDUserID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// apnsHostnames are in the server certificate so that a client which keeps
// Apple's host name and only redirects its dial still verifies the mock.
var apnsHostnames = []string{
	"localhost",
	"api.push.apple.com",
	"api.sandbox.push.apple.com",
	"api.development.push.apple.com",
}

// makeCerts creates a throwaway CA and a server certificate it signs. Their
// validity is computed from the wall clock, not the server's clock, because
// the clients that verify them read the wall clock.
func (s *Server) makeCerts() error {
	now := time.Now()
	ca := s.cfg.ca
	if ca == nil {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("generate CA key: %w", err)
		}
		if ca, err = pki.NewCA("mdmsim mock APNs CA", caKey, now.Add(-time.Hour), now.AddDate(10, 0, 0)); err != nil {
			return err
		}
	}
	s.ca, s.caPEM = ca.Cert, ca.PEM

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate server key: %w", err)
	}
	hosts := append(append([]string{"127.0.0.1", "::1"}, apnsHostnames...), s.cfg.hostnames...)
	if s.Listener != nil {
		if ta, ok := s.Listener.Addr().(*net.TCPAddr); ok && !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
			hosts = append(hosts, ta.IP.String())
		}
	}
	s.tlsCert, err = ca.ServerCertificate("api.push.apple.com", hosts, key, now.Add(-time.Hour), now.AddDate(10, 0, 0))
	return err
}

// TopicFromCertificate returns the push topic in cert's Subject UID
// attribute, or "" if there is none.
func TopicFromCertificate(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	for _, n := range cert.Subject.Names {
		if n.Type.Equal(OIDUserID) {
			if v, ok := n.Value.(string); ok {
				return v
			}
		}
	}
	return ""
}

// NewPushCertificate makes a self-signed push certificate for topic, shaped
// like the ones Apple issues (the topic in the Subject UID attribute), valid
// from notBefore to notAfter. Tests use it as the MDM server's push
// certificate.
func NewPushCertificate(topic string, notBefore, notAfter time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: pki.Serial(),
		Subject: pkix.Name{
			CommonName: "APSP:" + topic,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: OIDUserID, Value: topic}},
		},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// PushCertificatePEM encodes a push certificate and its private key as PEM
// (the certificate, then a PKCS#8 key), the form NanoMDM's
// PUT /v1/pushcert and storage.StorePushCert take.
func PushCertificatePEM(cert tls.Certificate) (certPEM, keyPEM []byte, err error) {
	if len(cert.Certificate) == 0 {
		return nil, nil, errors.New("mockapns: certificate has no DER data")
	}
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("mockapns: marshal key: %w", err)
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
