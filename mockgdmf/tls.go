package mockgdmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/internal/pki"
)

// Certificates are valid over a fixed, wide window so that creating them
// reads no clock: TLS clients check validity against the real time, which a
// simulation's virtual clock may be far from.
var (
	certNotBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	certNotAfter  = time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC)
)

// authority is a throwaway CA and the leaf it issued for the server.
type authority struct {
	caCert *x509.Certificate
	caPEM  []byte
	leaf   tls.Certificate
}

// newAuthority issues the server's certificate for hosts from ca, or from
// a fresh CA when ca is nil.
func newAuthority(ca *pki.CA, hosts []string) (*authority, error) {
	if ca == nil {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("mockgdmf: CA key: %w", err)
		}
		if ca, err = pki.NewCA("mdmsim mock GDMF CA", caKey, certNotBefore, certNotAfter); err != nil {
			return nil, fmt.Errorf("mockgdmf: %w", err)
		}
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("mockgdmf: server key: %w", err)
	}
	leaf, err := ca.ServerCertificate("gdmf.apple.com", hosts, leafKey, certNotBefore, certNotAfter)
	if err != nil {
		return nil, fmt.Errorf("mockgdmf: %w", err)
	}
	return &authority{caCert: ca.Cert, caPEM: ca.PEM, leaf: leaf}, nil
}
