//go:build !race

package refmdm_test

// raceDetector: the tests are built with -race.
const raceDetector = false
