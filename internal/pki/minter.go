package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/internal/der"
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
	// unsigned: certificates carry placeholderSig instead of a signature.
	unsigned bool
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

// placeholderSig is a well-formed ECDSA signature value (r = s = 1) that
// verifies for no certificate.
var placeholderSig = []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}

// Unsigned makes m issue certificates that carry a placeholder instead of
// the CA's signature: they parse, and verify against nothing. It is for a
// server that checks no certificate and stands in for one whose signing is
// not what is measured (the null target): the CA's signature is the
// server's work, not the devices'. Call it before the first Mint.
func (m *Minter) Unsigned() { m.unsigned = true }

// OmitAuthorityKeyID leaves the authority key identifier out of the
// certificates m issues, 37 bytes each that a device keeps for the life of
// its enrollment: for a server that knows its one CA without it. Call it
// before the first Mint.
func (m *Minter) OmitAuthorityKeyID() { m.akid = nil }

// The fixed pieces of a minted certificate, in DER.
var (
	derSigAlg = []byte{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02} // ecdsa-with-SHA256
	derV3     = []byte{0xa0, 0x03, 0x02, 0x01, 0x02}
	// SubjectPublicKeyInfo of a P-256 key, up to the uncompressed point.
	derSPKIPrefix = []byte{0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
		0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00}
	// keyUsage, critical: digitalSignature and keyEncipherment.
	derKeyUsage = []byte{0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x05, 0xa0}
	// extKeyUsage: clientAuth.
	derExtKeyUsage = []byte{0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a,
		0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02}
	derOIDOrganization = []byte{0x06, 0x03, 0x55, 0x04, 0x0a}
	derOIDCommonName   = []byte{0x06, 0x03, 0x55, 0x04, 0x03}
	derOIDAuthKeyID    = []byte{0x06, 0x03, 0x55, 0x1d, 0x23}

	errMintTimeOutRange = errors.New("pki: mint: validity outside 1950–2049")
)

// Mint returns a new P-256 key and the DER of its certificate for
// commonName, valid from notBefore to notAfter. The certificate is written
// in one pass into one buffer of its exact size.
func (m *Minter) Mint(commonName string, notBefore, notAfter time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	notBefore, notAfter = notBefore.UTC(), notAfter.UTC()
	if y := notBefore.Year(); y < 1950 || y >= 2050 {
		return nil, nil, errMintTimeOutRange
	}
	if y := notAfter.Year(); y < 1950 || y >= 2050 {
		return nil, nil, errMintTimeOutRange
	}
	if len(commonName) > 1024 || len(m.org) > 1024 {
		return nil, nil, errors.New("pki: mint: a name longer than 1024 bytes")
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

	// Lengths from the inside out.
	rdnLen := func(oid []byte, v string) int {
		attr := len(oid) + der.HeaderLen(len(v)) + len(v)
		seq := der.HeaderLen(attr) + attr
		return der.HeaderLen(seq) + seq
	}
	subject := rdnLen(derOIDCommonName, commonName)
	if m.org != "" {
		subject += rdnLen(derOIDOrganization, m.org)
	}
	akiInner := der.HeaderLen(len(m.akid)) + len(m.akid)                // [0] keyIdentifier
	akiOctet := der.HeaderLen(akiInner) + akiInner                      // SEQUENCE
	akiExt := len(derOIDAuthKeyID) + der.HeaderLen(akiOctet) + akiOctet // OID, OCTET STRING
	exts := len(derKeyUsage) + len(derExtKeyUsage)
	if len(m.akid) > 0 {
		exts += der.HeaderLen(akiExt) + akiExt
	}
	extsField := der.HeaderLen(exts) + exts // [3] EXPLICIT SEQUENCE
	const validity = 2 + 2*(2+13)
	tbsLen := len(derV3) + 2 + len(serial) + len(derSigAlg) + len(m.issuer) + validity +
		der.HeaderLen(subject) + subject + len(derSPKIPrefix) + len(point) + der.HeaderLen(extsField) + extsField
	const maxSig = 2 + 2*(2+33) // an ECDSA P-256 signature's DER at most
	certMax := der.HeaderLen(tbsLen) + tbsLen + len(derSigAlg) + 3 + 1 + maxSig
	// Room for the outer SEQUENCE's header, written last: its length
	// depends on the signature's.
	const room = 4
	out := make([]byte, room, room+certMax)
	tbsStart := room
	out = der.AppendHeader(out, der.TagSequence, tbsLen)
	out = append(out, derV3...)
	out = der.AppendHeader(out, der.TagInteger, len(serial))
	out = append(out, serial[:]...)
	out = append(out, derSigAlg...)
	out = append(out, m.issuer...)
	out = append(out, 0x30, 2*(2+13))
	out = appendUTCTime(out, notBefore)
	out = appendUTCTime(out, notAfter)
	out = der.AppendHeader(out, der.TagSequence, subject)
	if m.org != "" {
		out = appendRDN(out, derOIDOrganization, m.org)
	}
	out = appendRDN(out, derOIDCommonName, commonName)
	out = append(out, derSPKIPrefix...)
	out = append(out, point...)
	out = der.AppendHeader(out, der.TagContext3, extsField)
	out = der.AppendHeader(out, der.TagSequence, exts)
	out = append(out, derKeyUsage...)
	out = append(out, derExtKeyUsage...)
	if len(m.akid) > 0 {
		out = der.AppendHeader(out, der.TagSequence, akiExt)
		out = append(out, derOIDAuthKeyID...)
		out = der.AppendHeader(out, der.TagOctetString, akiOctet)
		out = der.AppendHeader(out, der.TagSequence, akiInner)
		out = der.AppendHeader(out, 0x80, len(m.akid)) // [0] keyIdentifier, primitive
		out = append(out, m.akid...)
	}
	sig := placeholderSig
	if !m.unsigned {
		h := sha256.Sum256(out[tbsStart:])
		if sig, err = ecdsa.SignASN1(rand.Reader, m.key, h[:]); err != nil {
			return nil, nil, fmt.Errorf("pki: mint: %w", err)
		}
	}
	out = append(out, derSigAlg...)
	out = der.AppendHeader(out, der.TagBitString, len(sig)+1)
	out = append(out, 0)
	out = append(out, sig...)
	var hdr [5]byte
	h0 := der.AppendHeader(hdr[:0], der.TagSequence, len(out)-room)
	start := room - len(h0)
	copy(out[start:], h0)
	return out[start:], key, nil
}

// appendRDN appends SET { SEQUENCE { oid, UTF8String v } }.
func appendRDN(dst, oid []byte, v string) []byte {
	attr := len(oid) + der.HeaderLen(len(v)) + len(v)
	dst = der.AppendHeader(dst, der.TagSet, der.HeaderLen(attr)+attr)
	dst = der.AppendHeader(dst, der.TagSequence, attr)
	dst = append(dst, oid...)
	dst = der.AppendHeader(dst, der.TagUTF8String, len(v))
	return append(dst, v...)
}

// appendUTCTime appends t, UTC and between 1950 and 2049, as a UTCTime.
func appendUTCTime(dst []byte, t time.Time) []byte {
	dst = append(dst, der.TagUTCTime, 13)
	return t.AppendFormat(dst, "060102150405Z")
}
