package refmdm

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// authority is the stack's throwaway CA. It signs the server's TLS
// certificate, the devices' identities (over SCEP or directly) and nothing
// else. SCEP requires an RSA CA key.
type authority struct {
	cert   *x509.Certificate
	key    *rsa.PrivateKey
	pem    []byte
	serial atomic.Int64
	// now is the signing time source; certificates are valid from an hour
	// before it so small clock differences never reject a fresh identity.
	now func() time.Time
}

func newAuthority(name string, now func() time.Time) (*authority, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("refmdm: CA key: %w", err)
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"mdmsim"}},
		NotBefore:             t.Add(-time.Hour),
		NotAfter:              t.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("refmdm: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	a := &authority{cert: cert, key: key, now: now,
		pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	a.serial.Store(1)
	return a, nil
}

// sign issues a certificate for pub from tmpl, filling serial and validity.
func (a *authority) sign(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	t := a.now()
	tmpl.SerialNumber = big.NewInt(a.serial.Add(1))
	tmpl.NotBefore = t.Add(-time.Hour)
	tmpl.NotAfter = t.Add(validity)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, pub, a.key)
	if err != nil {
		return nil, fmt.Errorf("refmdm: sign: %w", err)
	}
	return x509.ParseCertificate(der)
}

// deviceTemplate is what every device identity looks like: a client
// certificate, which NanoMDM's verifier requires.
func deviceTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"mdmsim devices"}},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// mintIdentity is the fast enrollment path: an ECDSA P-256 identity signed
// directly by the CA, skipping SCEP (RSA key generation dominates SCEP).
func (a *authority) mintIdentity(cn string) (*protocol.Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("refmdm: identity key: %w", err)
	}
	cert, err := a.sign(deviceTemplate(cn), &key.PublicKey, 365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	return &protocol.Identity{Certificate: cert, PrivateKey: key}, nil
}

// serverCertificate issues the TLS certificate of the stack's listener.
func (a *authority) serverCertificate(hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "mdmsim reference stack"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	cert, err := a.sign(tmpl, &key.PublicKey, 365*24*time.Hour)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw, a.cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
