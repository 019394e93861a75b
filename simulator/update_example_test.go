package simulator_test

import (
	"fmt"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// A device's software-update behaviour is set per device: who uses it, its
// situation, and the quirks it shows.
func ExampleDevice_SetQuirk() {
	id, _ := identity.New(gofakeit.New(1), identity.Options{Model: "Mac14,2"})
	d := simulator.New(id)
	d.SetUserProfile(simulator.UserProfile{Response: simulator.UserIgnores, BlockingApps: true})
	d.SetEnvironment(simulator.Environment{NoBootstrapToken: true})
	if err := d.SetQuirk(simulator.QuirkPrepareStall, true); err != nil {
		panic(err)
	}
	if err := d.SetQuirk("made-up", true); err != nil {
		fmt.Println(err)
	}
	fmt.Println(d.ActiveQuirks())
	// Output:
	// simulator: unknown quirk: "made-up"
	// [reboot-gap prepare-stall wrong-product-key]
}
