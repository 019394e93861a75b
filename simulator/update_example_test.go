package simulator_test

import (
	"fmt"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/update"
)

// A device's software-update behaviour is set per device: who uses it, its
// situation, and the quirks it shows.
func ExampleDevice_SetQuirk() {
	id, _ := identity.New(gofakeit.New(1), identity.Options{Model: "Mac14,2"})
	d := simulator.New(id)
	d.SetUserProfile(update.UserProfile{Response: update.UserIgnores, BlockingApps: true})
	d.SetEnvironment(update.Environment{NoBootstrapToken: true})
	if err := d.SetQuirk(update.QuirkPrepareStall, true); err != nil {
		panic(err)
	}
	if err := d.SetQuirk("made-up", true); err != nil {
		fmt.Println(err)
	}
	fmt.Println(d.ActiveQuirks())
	// Output:
	// update: unknown quirk: "made-up"
	// [reboot-gap prepare-stall wrong-product-key]
}
