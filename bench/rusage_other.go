//go:build !unix

package bench

import "time"

func usage() (time.Duration, uint64) { return 0, 0 }
