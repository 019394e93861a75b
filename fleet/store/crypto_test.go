package store_test

import "crypto/rand"

// cryptoReader is the system's randomness: keys are not part of what a
// seed reproduces, and the tests never compare them with a fixed value.
type cryptoReader struct{}

func (cryptoReader) Read(p []byte) (int, error) { return rand.Read(p) }
