//go:build race

package reference_test

// raceDetector: the tests are built with -race.
const raceDetector = true
