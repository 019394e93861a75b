package simulator_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// TestBootstrapTokenNeedsTheCapability: an Apple-silicon Mac escrows its
// bootstrap token only with a server whose enrollment profile lists
// com.apple.mdm.bootstraptoken; without it, its first session sends no
// SetBootstrapToken, and an install asks for no token either.
func TestBootstrapTokenNeedsTheCapability(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		caps []string
		want string
	}{
		{[]string{simulator.CapabilityBootstrapToken}, "Authenticate TokenUpdate SetBootstrapToken"},
		{[]string{"com.apple.mdm.per-user-connections"}, "Authenticate TokenUpdate"},
		{nil, "Authenticate TokenUpdate"},
	} {
		srv := newScriptedServer(t)
		id, err := identity.New(gofakeit.New(5), identity.Options{Model: "Mac14,2"})
		if err != nil {
			t.Fatal(err)
		}
		clk := clock.NewManual(catalog.Default().LatestPostingDate())
		d := simulator.New(id, simulator.WithClock(clk))
		p := srv.profile(simulator.AccessAll)
		p.MDM.ServerCapabilities = tt.caps
		if err := d.EnrollWithIdentity(context.Background(), p, selfIdentity(t)); err != nil {
			t.Fatal(err)
		}
		srv.enqueue(t, "info", "DeviceInformation", map[string]any{"Queries": []string{"UDID"}})
		if err := d.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := d.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		have := strings.Join(srv.checkinTypes(), " ")
		if have != tt.want {
			t.Errorf("capabilities %v: check-ins %q, want %q", tt.caps, have, tt.want)
		}
		if escrowed := slices.Contains(tt.caps, simulator.CapabilityBootstrapToken); d.BootstrapTokenEscrowed() != escrowed {
			t.Errorf("capabilities %v: escrowed %v", tt.caps, d.BootstrapTokenEscrowed())
		}
	}
}
