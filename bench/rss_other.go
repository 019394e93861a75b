//go:build !linux

package bench

// currentRSS is the process's peak resident set (getrusage): the current
// one is read on Linux only.
func currentRSS() uint64 {
	_, peak := usage()
	return peak
}
