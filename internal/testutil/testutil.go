// Package testutil holds the helpers several packages' tests share: waiting
// for a condition that no channel announces, and a throwaway self-signed
// identity.
//
// It imports only the standard library, so any package's tests may use it,
// clock's own included: waiting here is on the wall clock on purpose, as a
// hang guard, never as a timing a verdict depends on.
package testutil

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// HangGuard is how long Eventually waits before it fails a test: long
// enough that a loaded machine only makes a test slower, never fail.
const HangGuard = time.Minute

// Eventually polls cond until it holds, failing t after HangGuard.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), HangGuard)
	defer cancel()
	EventuallyCtx(ctx, t, what, func() (bool, error) { return cond(), nil })
}

// EventuallyCtx polls cond until it holds, failing t with cond's last error
// when ctx ends first. The pause between calls grows from 100µs to 20ms, so
// a quick state is seen at once and an expensive cond (a request to a
// server) is not called in a tight loop.
func EventuallyCtx(ctx context.Context, t testing.TB, what string, cond func() (bool, error)) {
	t.Helper()
	pause := 100 * time.Microsecond
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (hang guard; last error: %v)", what, ctx.Err(), last)
		case <-time.After(pause):
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// SelfSigned returns a P-256 key and a self-signed client certificate for
// it, valid for an hour either side of now: the identity tests give a
// device without running SCEP.
func SelfSigned(t testing.TB, commonName string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: commonName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
