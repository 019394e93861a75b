package fleet_test

import (
	"fmt"

	"github.com/mdmsim/mdmsim/fleet"
)

// A fleet of 10 devices in 4 shards: each shard holds a block of the
// fleet's order, and the blocks make the whole fleet.
func ExampleShard_Range() {
	for i := range 4 {
		s, _ := fleet.ParseShard(fmt.Sprintf("%d/4", i))
		lo, hi := s.Range(10)
		fmt.Printf("shard %s: devices %d to %d\n", s, lo, hi-1)
	}
	// Output:
	// shard 0/4: devices 0 to 1
	// shard 1/4: devices 2 to 4
	// shard 2/4: devices 5 to 6
	// shard 3/4: devices 7 to 9
}
