package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Minter issues device identities from an ECDSA P-256 CA at fleet speed:
// a P-256 key and a client certificate (digitalSignature and
// keyEncipherment, clientAuth), as Issue would make them from a device
// template, but written straight into DER. x509.CreateCertificate marshals
// through reflection and verifies each signature it makes; a fleet of a
// million devices cannot afford either. Safe for concurrent use.
type Minter struct {
	key     *ecdsa.PrivateKey
	issuer  []byte // the CA's subject, DER
	akid    []byte // the CA's subject key identifier, if any
	org     string
	prefix  [8]byte // random, so two minters of one CA never share a serial
	counter atomic.Uint64
}

// NewMinter returns a Minter for ca, whose key must be ECDSA P-256. org is
// the Organization of the subjects it issues.
func (ca *CA) NewMinter(org string) (*Minter, error) {
	key, ok := ca.Key.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("pki: minter: the CA key is %T, not ECDSA P-256", ca.Key)
	}
	m := &Minter{key: key, issuer: ca.Cert.RawSubject, akid: ca.Cert.SubjectKeyId, org: org}
	if _, err := rand.Read(m.prefix[:]); err != nil {
		return nil, fmt.Errorf("pki: minter: %w", err)
	}
	m.prefix[0] &= 0x7f // a positive serial
	m.prefix[0] |= 0x40 // of a fixed length
	return m, nil
}

var (
	oidECDSAWithSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECPublicKey      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidP256             = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidOrganization     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidAuthorityKeyID   = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidClientAuth       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
	errMintTimeOutRange = errors.New("pki: mint: validity outside 1950–2049")
)

// Mint returns a new P-256 key and the DER of its certificate for
// commonName, valid from notBefore to notAfter.
func (m *Minter) Mint(commonName string, notBefore, notAfter time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	if y := notBefore.UTC().Year(); y < 1950 || y >= 2050 {
		return nil, nil, errMintTimeOutRange
	}
	if y := notAfter.UTC().Year(); y < 1950 || y >= 2050 {
		return nil, nil, errMintTimeOutRange
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: mint: %w", err)
	}
	point, err := key.PublicKey.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: mint: %w", err)
	}
	var serial [16]byte
	copy(serial[:8], m.prefix[:])
	binary.BigEndian.PutUint64(serial[8:], m.counter.Add(1))

	tbs := cryptobyte.NewBuilder(make([]byte, 0, 384))
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(2) })
		b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(serial[:]) })
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
		b.AddBytes(m.issuer)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1UTCTime(notBefore.UTC().Truncate(time.Second))
			b.AddASN1UTCTime(notAfter.UTC().Truncate(time.Second))
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // subject
			rdn := func(oid asn1.ObjectIdentifier, v string) {
				b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oid)
						b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(v)) })
					})
				})
			}
			if m.org != "" {
				rdn(oidOrganization, m.org)
			}
			rdn(oidCommonName, commonName)
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // subjectPublicKeyInfo
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidECPublicKey)
				b.AddASN1ObjectIdentifier(oidP256)
			})
			b.AddASN1BitString(point)
		})
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidKeyUsage)
					b.AddASN1Boolean(true)
					// digitalSignature and keyEncipherment: bits 0 and 2.
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddBytes([]byte{0x03, 0x02, 0x05, 0xa0}) })
				})
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidExtKeyUsage)
					b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidClientAuth) })
					})
				})
				if len(m.akid) > 0 {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidAuthorityKeyID)
						b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(m.akid) })
							})
						})
					})
				}
			})
		})
	})
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: mint: %w", err)
	}
	h := sha256.Sum256(tbsDER)
	sig, err := ecdsa.SignASN1(rand.Reader, m.key, h[:])
	if err != nil {
		return nil, nil, fmt.Errorf("pki: mint: %w", err)
	}
	cert := cryptobyte.NewBuilder(make([]byte, 0, len(tbsDER)+96))
	cert.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbsDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
		b.AddASN1BitString(sig)
	})
	der, err := cert.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("pki: mint: %w", err)
	}
	return der, key, nil
}
