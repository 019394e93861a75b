package fleet_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// BenchmarkIdleFleet draws a fleet of 10 000 devices and reports what one
// idle device costs to draw (ns/device) and to keep (heap B/device,
// goroutines): the figures behind a million-device run.
func BenchmarkIdleFleet(b *testing.B) {
	const n = 10000
	var heap float64
	var goroutines int
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		f, err := fleet.New(fleet.Config{Devices: n, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc-before.HeapAlloc) / n
		goroutines = runtime.NumGoroutine() - g0
		runtime.KeepAlive(f)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/device")
	b.ReportMetric(heap, "heap-B/device")
	b.ReportMetric(float64(goroutines), "goroutines")
}

// nopPush is a push service that keeps nothing: the benchmark below counts
// the devices' own memory, not the mock APNs' registry.
type nopPush struct{}

func (nopPush) RegisterDevice([]byte, string, string, func()) {}
func (nopPush) UnregisterDevice([]byte)                       {}

// BenchmarkEnrolledIdleFleet enrolls 20 000 devices with minted P-256
// identities against a server that keeps nothing, and reports the heap one
// enrolled idle device holds on the simulator's side (its identity,
// credential, enrollment and place in the fleet; the shared connection
// pool is a few kilobytes for the whole fleet). The goal is at most 2 KiB.
func BenchmarkEnrolledIdleFleet(b *testing.B) {
	const n = 20000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	ca, err := pki.NewCA("bench CA", key, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	minter, err := ca.NewMinter("mdmsim devices")
	if err != nil {
		b.Fatal(err)
	}
	profile := &protocol.EnrollmentProfile{PayloadIdentifier: "bench", PayloadUUID: "6D646D73-0000-4000-8000-000000000001",
		MDM: protocol.MDMPayload{PayloadType: protocol.PayloadTypeMDM, PayloadVersion: 1, PayloadIdentifier: "bench.mdm",
			PayloadUUID: "6D646D73-0000-4000-8000-000000000002", ServerURL: srv.URL + "/connect", CheckInURL: srv.URL + "/checkin",
			Topic: "com.apple.mgmt.External.bench", IdentityCertificateUUID: "6D646D73-0000-4000-8000-000000000003",
			SignMessage: true, AccessRights: 8191, CheckOutWhenRemoved: true}}
	mint := func(cn string) (*protocol.Credential, error) {
		der, k, err := minter.Mint(cn, now.Add(-time.Hour), now.Add(24*time.Hour))
		if err != nil {
			return nil, err
		}
		return protocol.NewCredentialDER(der, k)
	}
	var heap float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, err := fleet.New(fleet.Config{Devices: n, Seed: 1}, simulator.WithPushService(nopPush{}))
		if err != nil {
			b.Fatal(err)
		}
		if got, err := f.Enroll(context.Background(), profile, mint); got != n {
			b.Fatalf("%d of %d enrolled: %v", got, n, err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(f)
		_ = f.Env().Close()
	}
	b.ReportMetric(heap, "heap-B/device")
}
