package store_test

import (
	"fmt"
	"os"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/fleet/store"
	"github.com/mdmsim/mdmsim/simulator"
)

// A fleet kept in a state directory: open the store, draw the fleet with
// the store as its devices' state sink, resume what the file holds, then
// enroll the rest (fleet.Enroll skips the devices that came back enrolled).
func Example() {
	dir, err := os.MkdirTemp("", "state")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(dir, store.Fleet{Seed: 1, Devices: 10, Target: "https://mdm.example.com"})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	f, err := fleet.New(fleet.Config{Devices: 10, Seed: 1}, simulator.WithStateSink(st))
	if err != nil {
		panic(err)
	}
	defer f.Env().Close()
	n, err := st.Resume(f)
	if err != nil {
		panic(err)
	}
	fmt.Printf("resuming %v, %d devices came back enrolled\n", st.Resuming(), n)
	// Output: resuming false, 0 devices came back enrolled
}
