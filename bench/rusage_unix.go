//go:build unix

package bench

import (
	"runtime"
	"syscall"
	"time"
)

// usage reads the process's CPU time (user + system) and its peak RSS.
func usage() (cpu time.Duration, maxRSS uint64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	maxRSS = uint64(ru.Maxrss)
	if runtime.GOOS != "darwin" {
		maxRSS *= 1024 // kilobytes everywhere but macOS
	}
	return cpu, maxRSS
}
