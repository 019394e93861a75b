package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/internal/pki"
)

func ecdsaCA(t testing.TB) *pki.CA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca, err := pki.NewCA("test CA", k, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// A minted certificate is the one Issue makes from the same device
// template, field for field, and verifies as a client certificate.
func TestMinterMatchesIssue(t *testing.T) {
	t.Parallel()
	ca := ecdsaCA(t)
	m, err := ca.NewMinter("mdmsim devices")
	if err != nil {
		t.Fatal(err)
	}
	nb := time.Now().Add(-time.Hour).Truncate(time.Second)
	na := nb.Add(365 * 24 * time.Hour)
	der, key, err := m.Mint("0000FE00-6D73-4E75-6C6C-000000000001", nb, na)
	if err != nil {
		t.Fatal(err)
	}
	got, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ca.Issue(&x509.Certificate{
		Subject:   pkix.Name{CommonName: "0000FE00-6D73-4E75-6C6C-000000000001", Organization: []string{"mdmsim devices"}},
		NotBefore: nb, NotAfter: na,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]any{
		"subject":   {got.Subject.String(), want.Subject.String()},
		"issuer":    {got.Issuer.String(), want.Issuer.String()},
		"validity":  {[]time.Time{got.NotBefore, got.NotAfter}, []time.Time{want.NotBefore, want.NotAfter}},
		"key usage": {got.KeyUsage, want.KeyUsage},
		"ext usage": {got.ExtKeyUsage, want.ExtKeyUsage},
		"akid":      {got.AuthorityKeyId, want.AuthorityKeyId},
		"sig alg":   {got.SignatureAlgorithm, want.SignatureAlgorithm},
		"version":   {got.Version, want.Version},
		"is CA":     {got.IsCA, want.IsCA},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s: minted %v, issued %v", name, pair[0], pair[1])
		}
	}
	if !got.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Error("the certificate is not for the returned key")
	}
	if _, err := got.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("minted certificate does not verify: %v", err)
	}
	other := ecdsaCA(t)
	if _, err := got.Verify(x509.VerifyOptions{Roots: other.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("minted certificate verifies against another CA")
	}
}

// Serial numbers never repeat, across goroutines and across minters of
// one CA.
func TestMinterSerialsUnique(t *testing.T) {
	t.Parallel()
	ca := ecdsaCA(t)
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	now := time.Now()
	for range 2 {
		m, err := ca.NewMinter("")
		if err != nil {
			t.Fatal(err)
		}
		for range 4 {
			wg.Go(func() {
				for range 25 {
					der, _, err := m.Mint("d", now, now.Add(time.Hour))
					if err != nil {
						t.Error(err)
						return
					}
					c, err := x509.ParseCertificate(der)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[c.SerialNumber.String()] || c.SerialNumber.Sign() <= 0 {
						t.Errorf("serial %v repeated or not positive", c.SerialNumber)
					}
					seen[c.SerialNumber.String()] = true
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
}

// Without the key identifier and the organization a certificate is smaller
// and still verifies.
func TestMinterLean(t *testing.T) {
	t.Parallel()
	ca := ecdsaCA(t)
	full, _ := ca.NewMinter("mdmsim devices")
	lean, _ := ca.NewMinter("")
	lean.OmitAuthorityKeyID()
	now := time.Now()
	a, _, err := full.Mint("0000FE00-6D73-4E75-6C6C-000000000001", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := lean.Mint("0000FE00-6D73-4E75-6C6C-000000000001", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= len(a) || len(c.AuthorityKeyId) != 0 || len(c.Subject.Organization) != 0 {
		t.Errorf("lean certificate: %d bytes (full %d), AKID %x, O %v", len(b), len(a), c.AuthorityKeyId, c.Subject.Organization)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("lean certificate does not verify: %v", err)
	}
}

// An unsigned certificate parses, is for its key, and verifies against
// nothing.
func TestMinterUnsigned(t *testing.T) {
	t.Parallel()
	ca := ecdsaCA(t)
	m, _ := ca.NewMinter("")
	m.Unsigned()
	now := time.Now()
	der, key, err := m.Mint("d", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) || c.Subject.CommonName != "d" {
		t.Fatalf("certificate for %v, CN %q", c.PublicKey, c.Subject.CommonName)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("an unsigned certificate verifies")
	}
}

func TestMinterRefuses(t *testing.T) {
	t.Parallel()
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	rca, err := pki.NewCA("rsa CA", k, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rca.NewMinter(""); err == nil {
		t.Error("a minter for an RSA CA")
	}
	m, _ := ecdsaCA(t).NewMinter("")
	if _, _, err := m.Mint("d", time.Date(2051, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2052, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("a validity UTCTime cannot hold")
	}
}

func BenchmarkMint(b *testing.B) {
	m, err := ecdsaCA(b).NewMinter("mdmsim devices")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.Mint("0000FE00-6D73-4E75-6C6C-000000000001", now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
