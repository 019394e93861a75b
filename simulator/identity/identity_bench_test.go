package identity_test

import (
	"testing"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// BenchmarkNewIdentity measures drawing one device: a fleet of 100 000 pays it
// 100 000 times.
func BenchmarkNewIdentity(b *testing.B) {
	f := gofakeit.New(1)
	cat := catalog.Default()
	for b.Loop() {
		if _, err := identity.New(f, identity.Options{Catalog: cat}); err != nil {
			b.Fatal(err)
		}
	}
}
