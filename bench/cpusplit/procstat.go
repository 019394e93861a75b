package cpusplit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// which the kernel fixes at 100 for user space on every architecture
// whatever its internal tick rate.
const userHZ = 100

// ErrNoProcStat: the platform has no /proc/<pid>/stat (not Linux).
var ErrNoProcStat = errors.New("cpusplit: no /proc/<pid>/stat here (Linux only)")

// ProcessCPU returns the CPU time a process has spent, user plus system,
// all its threads included, from /proc/<pid>/stat (utime + stime). It
// reads another process's figure without its help: the way to tell a
// server's CPU from the simulator's when both share the machine. Its
// resolution is 1/USER_HZ (10 ms): measure phases long enough for it.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat("/proc/self/stat"); serr != nil {
				return 0, ErrNoProcStat
			}
		}
		return 0, fmt.Errorf("cpusplit: process %d: %w", pid, err)
	}
	ticks, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("cpusplit: /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// parseStat returns utime + stime, in ticks, of a /proc/<pid>/stat line.
// The second field, the command name in parentheses, may hold spaces and
// parentheses itself, so the fields are counted from its last ')'.
func parseStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	// After ") ": state (field 3), ppid, pgrp, session, tty_nr, tpgid,
	// flags, minflt, cminflt, majflt, cmajflt, utime (14), stime (15).
	f := bytes.Fields(b[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want more than %d", len(f), stime)
	}
	u, err := strconv.ParseUint(string(f[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	s, err := strconv.ParseUint(string(f[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return u + s, nil
}
