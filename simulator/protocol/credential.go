package protocol

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
)

// Credential is an enrollment identity in the compact form a device keeps
// for the life of its enrollment: the certificate as DER, and a P-256 key as
// its 97 raw bytes (the scalar and the uncompressed point) in the same
// allocation. Other keys (RSA) are kept as they are. A fleet of a million
// devices holds a million of these, so nothing parsed is kept: the
// certificate is parsed only when a command asks for it, and the key is
// rebuilt for each signature (no scalar multiplication: the public point is
// stored).
type Credential struct {
	buf     []byte // certificate DER, then the P-256 key when ec
	certLen uint32
	ec      bool
	key     crypto.Signer // any key but P-256
}

const (
	p256ScalarLen = 32
	p256PointLen  = 65
)

// ErrNoIdentity is a credential or identity without a certificate or key.
var ErrNoIdentity = errors.New("protocol: no identity")

// NewCredential returns the compact form of id.
func NewCredential(id *Identity) (*Credential, error) {
	if id == nil || id.Certificate == nil || id.PrivateKey == nil {
		return nil, ErrNoIdentity
	}
	return NewCredentialDER(id.Certificate.Raw, id.PrivateKey)
}

// NewCredentialDER returns a credential for a certificate's DER and its
// key. The DER is copied.
func NewCredentialDER(certDER []byte, key crypto.Signer) (*Credential, error) {
	if len(certDER) == 0 || key == nil {
		return nil, ErrNoIdentity
	}
	if uint64(len(certDER)) > 1<<20 {
		return nil, fmt.Errorf("protocol: credential: certificate of %d bytes", len(certDER))
	}
	c := &Credential{certLen: uint32(len(certDER))}
	if k, ok := key.(*ecdsa.PrivateKey); ok && k.Curve == elliptic.P256() {
		d, err := k.Bytes()
		if err != nil {
			return nil, fmt.Errorf("protocol: credential: %w", err)
		}
		q, err := k.PublicKey.Bytes()
		if err != nil {
			return nil, fmt.Errorf("protocol: credential: %w", err)
		}
		c.buf = make([]byte, 0, len(certDER)+len(d)+len(q))
		c.buf = append(append(append(c.buf, certDER...), d...), q...)
		c.ec = true
		return c, nil
	}
	c.buf = append([]byte(nil), certDER...)
	c.key = key
	return c, nil
}

// CertificateDER is the certificate's DER. The caller must not modify it.
func (c *Credential) CertificateDER() []byte { return c.buf[:c.certLen:c.certLen] }

// Certificate parses the certificate.
func (c *Credential) Certificate() (*x509.Certificate, error) {
	return x509.ParseCertificate(c.CertificateDER())
}

// Signer returns the private key, rebuilt from its compact form for a P-256
// key.
func (c *Credential) Signer() (crypto.Signer, error) {
	if !c.ec {
		return c.key, nil
	}
	raw := c.buf[c.certLen:]
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw[p256ScalarLen:])
	if err != nil {
		return nil, fmt.Errorf("protocol: credential: %w", err)
	}
	return &ecdsa.PrivateKey{PublicKey: *pub, D: new(big.Int).SetBytes(raw[:p256ScalarLen])}, nil
}

// Identity returns the credential in its parsed form.
func (c *Credential) Identity() (*Identity, error) {
	cert, err := c.Certificate()
	if err != nil {
		return nil, fmt.Errorf("protocol: credential: %w", err)
	}
	key, err := c.Signer()
	if err != nil {
		return nil, err
	}
	return &Identity{Certificate: cert, PrivateKey: key}, nil
}
