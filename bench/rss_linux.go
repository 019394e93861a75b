//go:build linux

package bench

import (
	"bytes"
	"os"
	"strconv"
)

// currentRSS is the process's resident set now (VmRSS of
// /proc/self/status), in bytes; the peak (getrusage) when it cannot be
// read.
func currentRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range bytes.Lines(data) {
			rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
			if !ok {
				continue
			}
			f := bytes.Fields(rest) // "123456 kB"
			if len(f) == 2 && string(f[1]) == "kB" {
				if kb, err := strconv.ParseUint(string(f[0]), 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	_, peak := usage()
	return peak
}
