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
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// authority is the stack's throwaway CA. It signs the server's TLS
// certificate and the devices' SCEP identities; SCEP requires an RSA CA
// key. The identities minted directly (the fast path) come from a second,
// ECDSA P-256 CA that NanoMDM trusts as well: an RSA-2048 signature costs
// about a millisecond, which would cap a fleet's enrollment near a
// thousand devices a second.
type authority struct {
	*pki.CA
	key    *rsa.PrivateKey // the CA key, as SCEP wants it
	fast   *pki.CA
	minter *pki.Minter
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
	ca, err := pki.NewCA(name, key, t.Add(-time.Hour), t.Add(10*365*24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("refmdm: %w", err)
	}
	fastKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("refmdm: CA key: %w", err)
	}
	fast, err := pki.NewCA(name+" (minted identities)", fastKey, t.Add(-time.Hour), t.Add(10*365*24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("refmdm: %w", err)
	}
	minter, err := fast.NewMinter("mdmsim devices")
	if err != nil {
		return nil, fmt.Errorf("refmdm: %w", err)
	}
	return &authority{CA: ca, key: key, fast: fast, minter: minter, now: now}, nil
}

// sign issues a certificate for pub from tmpl, valid from an hour ago for
// validity.
func (a *authority) sign(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	t := a.now()
	tmpl.NotBefore = t.Add(-time.Hour)
	tmpl.NotAfter = t.Add(validity)
	return a.Issue(tmpl, pub)
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

// mintCredential is the fast enrollment path: an ECDSA P-256 identity
// issued directly by the fast CA, skipping SCEP (RSA key generation
// dominates SCEP), in the compact form a device keeps.
func (a *authority) mintCredential(cn string) (*protocol.Credential, error) {
	t := a.now()
	der, key, err := a.minter.Mint(cn, t.Add(-time.Hour), t.Add(365*24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("refmdm: identity: %w", err)
	}
	return protocol.NewCredentialDER(der, key)
}

// trustedPEM is the CAs NanoMDM accepts device identities from.
func (a *authority) trustedPEM() []byte { return append(append([]byte(nil), a.PEM...), a.fast.PEM...) }

// serverCertificate issues the TLS certificate of the stack's listener.
func (a *authority) serverCertificate(hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	t := a.now()
	return a.ServerCertificate("mdmsim reference stack", hosts, key, t.Add(-time.Hour), t.Add(365*24*time.Hour))
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
