package refmdm_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator"
)

// Devices given a key source enroll over SCEP with its keys instead of
// generating their own.
func TestKeySource(t *testing.T) {
	t.Parallel()
	stack := startStack(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		asked = map[string]int{}
	)
	src := func(udid string, bits int) (*rsa.PrivateKey, error) {
		mu.Lock()
		defer mu.Unlock()
		asked[udid] = bits
		return key, nil
	}
	env := simulator.NewEnv(simulator.WithPushService(stack.APNs()), simulator.WithHTTPClient(stack.HTTPClient()),
		simulator.WithKeySource(src))
	defer env.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	profile, err := env.FetchProfile(ctx, stack.EnrollURL())
	if err != nil {
		t.Fatal(err)
	}
	devices := []*simulator.Device{newDevice(t, env, 11, catalog.MacOS), newDevice(t, env, 12, catalog.IOS)}
	for _, d := range devices {
		if err := d.Enroll(ctx, profile); err != nil {
			t.Fatal(err)
		}
		if err := d.Connect(ctx); err != nil {
			t.Fatalf("%s checks in with the source's key: %v", d.UDID(), err)
		}
	}
	if err := stack.WaitEnrolled(ctx, len(devices)); err != nil {
		t.Fatal(err)
	}
	for _, d := range devices {
		if bits, ok := asked[d.UDID()]; !ok || bits != 2048 {
			t.Errorf("%s: source asked for %d bits (%v), want the profile's 2048", d.UDID(), bits, ok)
		}
	}
}
