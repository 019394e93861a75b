package refmdm

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"

	httpmdm "github.com/micromdm/nanomdm/http/mdm"
)

// Defaults of the verification cache.
const (
	verifyCacheSize = 1 << 18
	verifyCacheTTL  = time.Hour
)

// verifyCache remembers the device certificates NanoMDM's verifier
// accepted, so a device's chain is checked when it enrolls and then once
// an hour, not at every check-in: with an ECDSA CA the chain costs a
// signature verification a request, besides the Mdm-Signature's own.
// Only acceptances are kept, each until the earlier of the certificate's
// NotAfter and verifyCacheTTL, and at most verifyCacheSize of them (the
// oldest go first). Certificates are checked against the wall clock, as
// x509 checks them.
type verifyCache struct {
	next httpmdm.CertVerifier
	size int
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	until map[[32]byte]time.Time
	ring  [][32]byte // insertion order, for eviction
	head  int
}

func newVerifyCache(next httpmdm.CertVerifier) *verifyCache {
	return &verifyCache{next: next, size: verifyCacheSize, ttl: verifyCacheTTL, now: time.Now, until: map[[32]byte]time.Time{}}
}

// Verify implements httpmdm.CertVerifier.
func (c *verifyCache) Verify(ctx context.Context, cert *x509.Certificate) error {
	if cert == nil {
		return c.next.Verify(ctx, cert)
	}
	k := sha256.Sum256(cert.Raw)
	now := c.now()
	c.mu.Lock()
	until, ok := c.until[k]
	c.mu.Unlock()
	if ok && now.Before(until) && !now.Before(cert.NotBefore) {
		return nil
	}
	if err := c.next.Verify(ctx, cert); err != nil {
		return err
	}
	until = now.Add(c.ttl)
	if cert.NotAfter.Before(until) {
		until = cert.NotAfter
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.until[k]; !ok {
		if len(c.ring) < c.size {
			c.ring = append(c.ring, k)
		} else {
			delete(c.until, c.ring[c.head])
			c.ring[c.head] = k
			c.head = (c.head + 1) % c.size
		}
	}
	c.until[k] = until
	return nil
}
