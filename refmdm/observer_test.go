package refmdm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/micromdm/nanomdm/mdm"
)

func answer(o *observer, udid, uuid, status string) {
	o.CommandAndReportResults(nil, &mdm.CommandResults{Enrollment: mdm.Enrollment{UDID: udid}, CommandUUID: uuid, Status: status})
}

// TestObserverWindow: the observer keeps the latest result per device and
// command, and forgets the oldest commands beyond its window.
func TestObserverWindow(t *testing.T) {
	t.Parallel()
	o := newObserver(4)
	o.recordSent("c0", "DeviceInformation")
	answer(o, "d1", "c0", "NotNow")
	answer(o, "d2", "c0", "Acknowledged")
	answer(o, "d1", "c0", "Acknowledged")
	if n := o.answered("c0"); n != 2 {
		t.Fatalf("answered c0: have %d, want 2", n)
	}
	rs := o.resultsFor("c0")
	if len(rs) != 2 || rs[0].UDID != "d1" || rs[0].Status != "Acknowledged" || rs[0].RequestType != "DeviceInformation" {
		t.Fatalf("c0 results: %+v", rs)
	}
	if all := o.all(); len(all) != 2 || all[0].UDID != "d2" || all[1].UDID != "d1" {
		t.Fatalf("all, in order of arrival: %+v", all)
	}
	for i := 1; i <= 3; i++ {
		answer(o, "d1", fmt.Sprint("c", i), "Acknowledged")
	}
	// 5 results in 4 commands: c0 (two results) goes.
	if o.cmds["c0"] != nil || o.kept != 3 || o.seen != 6 {
		t.Fatalf("after overflow: c0 kept %v, kept %d, seen %d", o.cmds["c0"] != nil, o.kept, o.seen)
	}
	// The newest command stays, however many answer it.
	for i := range 10 {
		answer(o, fmt.Sprint("d", i), "big", "Acknowledged")
	}
	if o.answered("big") != 10 || len(o.cmds) != 1 || len(o.order) != 1 {
		t.Fatalf("big: answered %d, commands %d", o.answered("big"), len(o.cmds))
	}
	// Commands sent and never answered are bounded too.
	for i := range 100 {
		o.recordSent(fmt.Sprint("s", i), "SecurityInfo")
	}
	if len(o.cmds) > 4 || len(o.order) > 4 {
		t.Fatalf("sent only: %d commands kept", len(o.cmds))
	}
}

// TestMintIdentityECDSA: the fast path's identities are ECDSA P-256
// client certificates (NanoMDM verifies their Mdm-Signature like RSA ones;
// the e2e tests enroll with them).
func TestMintIdentityECDSA(t *testing.T) {
	t.Parallel()
	ca, err := newAuthority("test CA", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.mintCredential("device")
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Identity()
	if err != nil {
		t.Fatal(err)
	}
	key, ok := id.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() || id.Certificate.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("identity key %T, certificate %v", id.PrivateKey, id.Certificate.PublicKeyAlgorithm)
	}
	if _, err := id.Certificate.Verify(x509.VerifyOptions{Roots: ca.fast.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	// NanoMDM is told to trust both CAs.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca.trustedPEM()) {
		t.Fatal("trusted PEM does not parse")
	}
	if _, err := id.Certificate.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
}
