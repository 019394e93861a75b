package refmdm

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

type countingVerifier struct {
	calls int
	err   error
}

func (v *countingVerifier) Verify(_ context.Context, _ *x509.Certificate) error {
	v.calls++
	return v.err
}

func TestVerifyCache(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	cert := func(b byte, notAfter time.Time) *x509.Certificate {
		return &x509.Certificate{Raw: []byte{b}, NotBefore: now.Add(-time.Hour), NotAfter: notAfter}
	}
	next := &countingVerifier{}
	c := newVerifyCache(next)
	c.now = func() time.Time { return now }
	c.size = 2
	ctx := context.Background()
	a := cert(1, now.Add(24*time.Hour))
	for range 3 {
		if err := c.Verify(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if next.calls != 1 {
		t.Fatalf("an accepted certificate verified %d times, want once", next.calls)
	}
	// A refusal is never remembered.
	next.err = errors.New("unknown authority")
	b := cert(2, now.Add(24*time.Hour))
	for range 2 {
		if err := c.Verify(ctx, b); err == nil {
			t.Fatal("a refused certificate passed")
		}
	}
	if next.calls != 3 {
		t.Fatalf("%d verifications, want 3", next.calls)
	}
	// An acceptance lasts until the TTL or the certificate's NotAfter.
	next.err = nil
	short := cert(3, now.Add(time.Minute))
	_ = c.Verify(ctx, short)
	c.now = func() time.Time { return now.Add(2 * time.Minute) }
	_ = c.Verify(ctx, short)
	if next.calls != 5 {
		t.Fatalf("an expired certificate was not verified again: %d calls, want 5", next.calls)
	}
	c.now = func() time.Time { return now.Add(2 * time.Hour) }
	_ = c.Verify(ctx, a)
	if next.calls != 6 {
		t.Fatalf("an entry past the TTL was not verified again: %d calls", next.calls)
	}
	// At most size entries.
	for i := range 10 {
		_ = c.Verify(ctx, cert(byte(10+i), now.Add(24*time.Hour)))
	}
	if len(c.until) > 2 || len(c.ring) > 2 {
		t.Fatalf("%d entries kept, want at most 2", len(c.until))
	}
}
