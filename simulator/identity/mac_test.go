package identity_test

import (
	"net"
	"testing"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/simulator/identity"
)

// TestMACAddressesAreApples: every hardware address a device reports is
// unicast, universally administered, on an OUI Apple registered, and
// the three of a Mac differ.
func TestMACAddressesAreApples(t *testing.T) {
	t.Parallel()
	apple := map[[3]byte]bool{}
	for _, o := range identity.AppleOUIs() {
		apple[o] = true
	}
	f := gofakeit.New(11)
	seen := map[string]bool{}
	for i := 0; i < 300; i++ {
		id, err := identity.New(f, identity.Options{})
		if err != nil {
			t.Fatal(err)
		}
		macs := []string{id.WiFiMAC, id.BluetoothMAC}
		if id.IsMac() {
			macs = append(macs, id.EthernetMAC)
		} else if id.EthernetMAC != "" {
			t.Errorf("%s has an Ethernet address %s", id.Model.Identifier, id.EthernetMAC)
		}
		for _, s := range macs {
			hw, err := net.ParseMAC(s)
			if err != nil || len(hw) != 6 {
				t.Fatalf("%q is not a MAC address: %v", s, err)
			}
			if hw[0]&1 != 0 {
				t.Errorf("%s is a multicast address", s)
			}
			if hw[0]&2 != 0 {
				t.Errorf("%s is locally administered", s)
			}
			if !apple[[3]byte{hw[0], hw[1], hw[2]}] {
				t.Errorf("%s is not on an Apple OUI", s)
			}
			seen[s] = true
		}
	}
	if len(seen) < 600 {
		t.Errorf("only %d distinct addresses in 300 devices", len(seen))
	}
}
