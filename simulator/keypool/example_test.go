package keypool_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"os"

	"github.com/mdmsim/mdmsim/simulator/keypool"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "keypool-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	cfg := keypool.Config{Dir: dir, Kind: keypool.P256, Size: 100, Seed: 1}
	first, err := keypool.Open(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	// A second pool on the folder, in this process or a later one, finds
	// the keys there and hands each device the same one.
	second, err := keypool.Open(context.Background(), cfg)
	if err != nil {
		panic(err)
	}
	udid := "00008120-000A0C2BF9FC6568"
	k1, _ := first.For(udid)
	k2, _ := second.For(udid)
	fmt.Println(first.Generated(), second.Generated(), k1.Public().(*ecdsa.PublicKey).Equal(k2.Public()))
	// Output: 128 0 true
}
