package protocol_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"testing"
	"time"

	"github.com/micromdm/nanomdm/cryptoutil"
	"github.com/smallstep/pkcs7"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// The hand-assembled SignedData reads back through a general CMS parser
// with the certificate, the detached content, SHA-256 and the three signed
// attributes of a device's signature.
func TestSignDetachedShape(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "authenticate_macos.plist")
	at := time.Now().UTC().Truncate(time.Second)
	for _, kt := range []string{"rsa", "ecdsa"} {
		t.Run(kt, func(t *testing.T) {
			t.Parallel()
			id := newIdentity(t, kt)
			der, err := credential(t, id).SignDetached(body, at)
			if err != nil {
				t.Fatal(err)
			}
			p7, err := pkcs7.Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if len(p7.Content) != 0 {
				t.Fatalf("content of %d bytes travels with a detached signature", len(p7.Content))
			}
			if len(p7.Certificates) != 1 || !p7.Certificates[0].Equal(id.Certificate) {
				t.Fatalf("certificates %v", p7.Certificates)
			}
			p7.Content = body
			if err := p7.Verify(); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if len(p7.Signers) != 1 {
				t.Fatalf("%d signers", len(p7.Signers))
			}
			si := p7.Signers[0]
			if !si.DigestAlgorithm.Algorithm.Equal(asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}) {
				t.Errorf("digest algorithm %v", si.DigestAlgorithm.Algorithm)
			}
			var signed time.Time
			if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}, &signed); err != nil || !signed.Equal(at) {
				t.Errorf("signingTime %v (%v), want %v", signed, err, at)
			}
			var digest []byte
			want := sha256.Sum256(body)
			if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}, &digest); err != nil || !bytes.Equal(digest, want[:]) {
				t.Errorf("messageDigest %x (%v)", digest, err)
			}
			if len(si.AuthenticatedAttributes) != 3 {
				t.Errorf("%d signed attributes, want 3", len(si.AuthenticatedAttributes))
			}
		})
	}
}

// A signing time past 2049 is a GeneralizedTime; servers check it against
// the certificate's validity, so NanoMDM refuses this one.
func TestSignDetachedFarFuture(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ecdsa")
	body := []byte("<plist/>")
	at := time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC)
	der, err := credential(t, id).SignDetached(body, at)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatal(err)
	}
	var signed time.Time
	if err := p7.UnmarshalSignedAttribute(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}, &signed); err != nil || !signed.Equal(at) {
		t.Errorf("signingTime %v (%v), want %v", signed, err, at)
	}
	if _, err := cryptoutil.VerifyMdmSignature(base64.StdEncoding.EncodeToString(der), body); err == nil {
		t.Fatal("NanoMDM accepts a signing time outside the certificate's validity")
	}
}

// A P-256 identity is kept as the certificate's DER and 97 key bytes, and
// comes back whole.
func TestCredentialCompact(t *testing.T) {
	t.Parallel()
	id := newIdentity(t, "ecdsa")
	c := credential(t, id)
	if !bytes.Equal(c.CertificateDER(), id.Certificate.Raw) {
		t.Fatal("certificate DER differs")
	}
	back, err := c.Identity()
	if err != nil {
		t.Fatal(err)
	}
	if !back.Certificate.Equal(id.Certificate) {
		t.Fatal("certificate differs")
	}
	k, ok := back.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || !k.Equal(id.PrivateKey) {
		t.Fatalf("key differs: %T", back.PrivateKey)
	}
	rsaID := newIdentity(t, "rsa")
	back, err = credential(t, rsaID).Identity()
	if err != nil || back.PrivateKey != rsaID.PrivateKey {
		t.Fatalf("an RSA key is kept as it is: %v", err)
	}
	if _, err := protocol.NewCredential(&protocol.Identity{Certificate: id.Certificate}); err == nil {
		t.Fatal("a credential without a key")
	}
}

// A credential whose certificate is not one gives an error, never a panic.
func FuzzSignDetached(f *testing.F) {
	id := newIdentity(f, "ecdsa")
	f.Add(id.Certificate.Raw)
	f.Add([]byte{0x30, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, cert []byte) {
		c, err := protocol.NewCredentialDER(cert, id.PrivateKey)
		if err != nil {
			return
		}
		der, err := c.SignDetached([]byte("body"), time.Unix(0, 0))
		if err == nil && len(der) == 0 {
			t.Fatal("no error and no signature")
		}
	})
}

func BenchmarkSignMdmSignature(b *testing.B) {
	body := readTestdata(b, "authenticate_macos.plist")
	for _, kt := range []string{"ecdsa", "rsa"} {
		b.Run(kt, func(b *testing.B) {
			c := credential(b, newIdentity(b, kt))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := protocol.SignMdmSignature(c, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
