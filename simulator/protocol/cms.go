package protocol

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/mdmsim/mdmsim/internal/der"
)

// The Mdm-Signature is a detached CMS SignedData (RFC 5652) over the body:
// SHA-256, the signer's certificate, and the signed attributes contentType,
// signingTime and messageDigest, as a device sends it. It is assembled here
// directly rather than through a general CMS library: its shape never
// changes, so the only work per message is the digest, the attributes and
// the signature, written into one buffer of the exact size.

var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidECDSAWithSHA  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// SignMdmSignature returns the Mdm-Signature header value for body: base64
// of a detached CMS SignedData, SHA-256, carrying the signer certificate,
// signed at the wall clock's time.
func SignMdmSignature(c *Credential, body []byte) (string, error) {
	return c.mdmSignature(body, time.Now())
}

// sigBuffers hold a SignedData and its base64 while the header value is
// made: the value is the only allocation that outlives a signature.
var sigBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// mdmSignature is the Mdm-Signature header value for body, signed at at.
func (c *Credential) mdmSignature(body []byte, at time.Time) (string, error) {
	bp := sigBuffers.Get().(*[]byte)
	defer sigBuffers.Put(bp)
	der, err := c.appendSignedData((*bp)[:0], body, at)
	if err != nil {
		return "", err
	}
	all := base64.StdEncoding.AppendEncode(der, der)
	if cap(all) <= 64<<10 {
		*bp = all[:0]
	}
	return string(all[len(der):]), nil
}

// SignDetached returns the DER of a detached CMS SignedData over body,
// with signingTime at.
func (c *Credential) SignDetached(body []byte, at time.Time) ([]byte, error) {
	return c.appendSignedData(nil, body, at)
}

// appendSignedData appends SignDetached's DER to dst.
func (c *Credential) appendSignedData(dst, body []byte, at time.Time) ([]byte, error) {
	if c == nil || len(c.buf) == 0 {
		return nil, fmt.Errorf("protocol: sign: %w", ErrNoIdentity)
	}
	cert := c.CertificateDER()
	issuer, serial, err := issuerAndSerial(cert)
	if err != nil {
		return nil, fmt.Errorf("protocol: sign: certificate: %w", err)
	}
	key, err := c.Signer()
	if err != nil {
		return nil, fmt.Errorf("protocol: sign: %w", err)
	}
	sigAlg := derECDSAWithSHA256
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		sigAlg = derSHA256WithRSA
	}
	// The signed attributes, as the SET OF that the signature covers; they
	// travel with the [0] IMPLICIT tag in place of the SET tag.
	digest := sha256.Sum256(body)
	var attrBuf [128]byte
	attrs, err := appendSignedAttributes(attrBuf[:0], digest[:], at.UTC())
	if err != nil {
		return nil, fmt.Errorf("protocol: sign: %w", err)
	}
	h := sha256.Sum256(attrs)
	sig, err := key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("protocol: sign: %w", err)
	}
	attrs[0] = der.TagContext0

	// Lengths from the inside out, then one pass that writes.
	sidLen := len(issuer) + len(serial)
	signerLen := len(derVersion1) + der.HeaderLen(sidLen) + sidLen + len(derSHA256) + len(attrs) + len(sigAlg) + der.HeaderLen(len(sig)) + len(sig)
	signersLen := der.HeaderLen(signerLen) + signerLen
	signedLen := len(derVersion1) + len(derDigestAlgorithms) + len(derEncapData) + der.HeaderLen(len(cert)) + len(cert) + der.HeaderLen(signersLen) + signersLen
	explicitLen := der.HeaderLen(signedLen) + signedLen
	infoLen := len(derOIDSignedData) + der.HeaderLen(explicitLen) + explicitLen

	out := slices.Grow(dst, der.HeaderLen(infoLen)+infoLen)
	out = der.AppendHeader(out, der.TagSequence, infoLen)
	out = append(out, derOIDSignedData...)
	out = der.AppendHeader(out, der.TagContext0, explicitLen)
	out = der.AppendHeader(out, der.TagSequence, signedLen)
	out = append(out, derVersion1...)
	out = append(out, derDigestAlgorithms...)
	out = append(out, derEncapData...)
	out = der.AppendHeader(out, der.TagContext0, len(cert))
	out = append(out, cert...)
	out = der.AppendHeader(out, der.TagSet, signersLen)
	out = der.AppendHeader(out, der.TagSequence, signerLen)
	out = append(out, derVersion1...)
	out = der.AppendHeader(out, der.TagSequence, sidLen)
	out = append(append(out, issuer...), serial...)
	out = append(out, derSHA256...)
	out = append(out, attrs...)
	out = append(out, sigAlg...)
	out = der.AppendHeader(out, der.TagOctetString, len(sig))
	out = append(out, sig...)
	return out, nil
}

// The fixed pieces of the SignedData.
var (
	derVersion1         = []byte{0x02, 0x01, 0x01}
	derSHA256           = algorithmDER(oidSHA256)
	derECDSAWithSHA256  = algorithmDER(oidECDSAWithSHA)
	derSHA256WithRSA    = algorithmDER(oidSHA256WithRSA)
	derDigestAlgorithms = append(der.AppendHeader(nil, der.TagSet, len(derSHA256)), derSHA256...)
	derEncapData        = sequenceDER(oidDER(oidData))
	derOIDSignedData    = oidDER(oidSignedData)
	derContentTypeAttr  = sequenceDER(oidDER(oidContentType), append(der.AppendHeader(nil, der.TagSet, len(oidDER(oidData))), oidDER(oidData)...))
	derOIDSigningTime   = oidDER(oidSigningTime)
	derOIDMessageDigest = oidDER(oidMessageDigest)
)

func oidDER(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err) // a constant above
	}
	return b
}

func algorithmDER(oid asn1.ObjectIdentifier) []byte { return sequenceDER(oidDER(oid)) }

func sequenceDER(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := der.AppendHeader(nil, der.TagSequence, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// appendSignedAttributes appends the SET OF the signed attributes, in DER
// order: contentType, signingTime, messageDigest.
func appendSignedAttributes(dst, digest []byte, at time.Time) ([]byte, error) {
	var tag byte
	var when string
	if y := at.Year(); y >= 1950 && y < 2050 {
		tag, when = der.TagUTCTime, at.Format("060102150405Z0700")
	} else if y >= 0 && y <= 9999 {
		tag, when = der.TagGenTime, at.Format("20060102150405Z0700")
	} else {
		return nil, fmt.Errorf("signing time %v out of range", at)
	}
	timeLen := der.HeaderLen(len(when)) + len(when)
	timeAttr := len(derOIDSigningTime) + der.HeaderLen(timeLen) + timeLen
	digestLen := der.HeaderLen(len(digest)) + len(digest)
	digestAttr := len(derOIDMessageDigest) + der.HeaderLen(digestLen) + digestLen
	n := len(derContentTypeAttr) + der.HeaderLen(timeAttr) + timeAttr + der.HeaderLen(digestAttr) + digestAttr
	dst = der.AppendHeader(dst, der.TagSet, n)
	dst = append(dst, derContentTypeAttr...)
	dst = der.AppendHeader(dst, der.TagSequence, timeAttr)
	dst = append(dst, derOIDSigningTime...)
	dst = der.AppendHeader(dst, der.TagSet, timeLen)
	dst = der.AppendHeader(dst, tag, len(when))
	dst = append(dst, when...)
	dst = der.AppendHeader(dst, der.TagSequence, digestAttr)
	dst = append(dst, derOIDMessageDigest...)
	dst = der.AppendHeader(dst, der.TagSet, digestLen)
	dst = append(der.AppendHeader(dst, der.TagOctetString, len(digest)), digest...)
	return dst, nil
}

var errCertificate = errors.New("malformed certificate")

// issuerAndSerial returns the issuer Name and the serial INTEGER of a
// certificate, each as its whole DER element, without parsing the rest.
func issuerAndSerial(der []byte) (issuer, serial []byte, err error) {
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, nil, errCertificate
	}
	var s, alg, iss cryptobyte.String
	if !tbs.ReadASN1Element(&s, cbasn1.INTEGER) || !tbs.ReadASN1Element(&alg, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&iss, cbasn1.SEQUENCE) {
		return nil, nil, errCertificate
	}
	return iss, s, nil
}
