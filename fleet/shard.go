package fleet

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one slice of a fleet run as several processes: shard Index of
// Count, Index counting from 0 as Kubernetes' JOB_COMPLETION_INDEX does.
// The zero Shard is the whole fleet.
//
// A shard holds a contiguous block of the fleet's device order (Range):
// the n shards of a seed together are exactly the devices of one
// unsharded run with that seed, each device identical (identity, user,
// situation, quirks) to the same device there.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Kubernetes' Indexed Job sets these in every pod: the pod's index from 0,
// and how many completions the job has.
const (
	EnvJobCompletionIndex = "JOB_COMPLETION_INDEX"
	EnvJobCompletions     = "JOB_COMPLETIONS"
)

// ErrShard is wrapped by every error about a shard's spelling or range.
var ErrShard = errors.New("shard")

// Sharded reports whether s is a slice of a fleet rather than all of it.
func (s Shard) Sharded() bool { return s.Count > 1 }

// String spells s as ParseShard reads it ("2/10"); the whole fleet is
// "0/1".
func (s Shard) String() string {
	if s.Count == 0 {
		return "0/1"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Validate checks 0 <= Index < Count; the zero Shard is valid (the whole
// fleet).
func (s Shard) Validate() error {
	if s == (Shard{}) {
		return nil
	}
	if s.Count < 1 {
		return fmt.Errorf("%w: count must be at least 1, have %d", ErrShard, s.Count)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("%w: index must be in [0,%d) (indexes count from 0), have %d", ErrShard, s.Count, s.Index)
	}
	return nil
}

// Range returns the block of a fleet of devices this shard holds, as
// indexes into the fleet's order: [lo, hi). Blocks differ in size by at
// most one device; with more shards than devices some are empty.
func (s Shard) Range(devices int) (lo, hi int) {
	if s.Count <= 1 {
		return 0, devices
	}
	// Computed in 64 bits: devices*Index must not overflow an int on a
	// 32-bit platform.
	lo = int(int64(devices) * int64(s.Index) / int64(s.Count))
	hi = int(int64(devices) * int64(s.Index+1) / int64(s.Count))
	return lo, hi
}

// ParseShard reads "i/n": shard i (from 0) of n. "" is the whole fleet.
func ParseShard(v string) (Shard, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(v, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%w %q: want i/n, shard i (from 0) of n, e.g. 0/4", ErrShard, v)
	}
	i, err := strconv.Atoi(strings.TrimSpace(is))
	if err != nil {
		return Shard{}, fmt.Errorf("%w %q: index %q is not a number", ErrShard, v, is)
	}
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if err != nil {
		return Shard{}, fmt.Errorf("%w %q: count %q is not a number", ErrShard, v, ns)
	}
	s := Shard{Index: i, Count: n}
	if n < 1 {
		return Shard{}, fmt.Errorf("%w %q: count must be at least 1", ErrShard, v)
	}
	if err := s.Validate(); err != nil {
		return Shard{}, fmt.Errorf("%q: %w", v, err)
	}
	return s, nil
}

// ShardFromEnv reads the shard of a pod of a Kubernetes Indexed Job:
// JOB_COMPLETION_INDEX (from 0) and JOB_COMPLETIONS. Neither set is the
// whole fleet (ok false); one without the other, or values that do not
// parse, are errors. getenv is os.Getenv in a program.
//
// Kubernetes sets JOB_COMPLETION_INDEX in every pod of an Indexed Job;
// JOB_COMPLETIONS is not set by Kubernetes, the manifest passes it
// (deploy/kubernetes), as the Job's spec.completions.
func ShardFromEnv(getenv func(string) string) (s Shard, ok bool, err error) {
	is, ns := strings.TrimSpace(getenv(EnvJobCompletionIndex)), strings.TrimSpace(getenv(EnvJobCompletions))
	switch {
	case is == "" && ns == "":
		return Shard{}, false, nil
	case is == "":
		return Shard{}, false, fmt.Errorf("%w: %s is set but not %s", ErrShard, EnvJobCompletions, EnvJobCompletionIndex)
	case ns == "":
		return Shard{}, false, fmt.Errorf("%w: %s is set but not %s (the manifest must pass the Job's completions)", ErrShard, EnvJobCompletionIndex, EnvJobCompletions)
	}
	s, err = ParseShard(is + "/" + ns)
	if err != nil {
		return Shard{}, false, fmt.Errorf("from %s and %s: %w", EnvJobCompletionIndex, EnvJobCompletions, err)
	}
	return s, true, nil
}

// ResolveShard is the CLI's rule: a --shard flag given wins; else the
// Indexed Job's environment; else the whole fleet.
func ResolveShard(flag string, getenv func(string) string) (Shard, error) {
	if strings.TrimSpace(flag) != "" {
		return ParseShard(flag)
	}
	s, _, err := ShardFromEnv(getenv)
	return s, err
}

// CheckSet checks that shards, read from the results of a run's
// processes, are the n shards of one fleet, each once: every one sharded
// and valid, with the same count, none twice, none missing (the first
// missing ones named). It is what merging results asks before it adds
// them up; the caller checks that they are of one run.
func CheckSet(shards []*Shard) error {
	if len(shards) == 0 {
		return errors.New("no shard")
	}
	seen := make(map[int]bool, len(shards))
	for i, s := range shards {
		if s == nil || !s.Sharded() {
			return fmt.Errorf("result %d is not a shard's (no shard i/n in it): only the shards of one run merge", i)
		}
		if err := s.Validate(); err != nil {
			return fmt.Errorf("result %d: %w", i, err)
		}
		if s.Count != shards[0].Count {
			return fmt.Errorf("shard %s and shard %s differ in shard count", s, shards[0])
		}
		if seen[s.Index] {
			return fmt.Errorf("shard %s given twice", s)
		}
		seen[s.Index] = true
	}
	if n := shards[0].Count; len(seen) < n {
		// Name the first few: a count read from a file may be huge.
		var missing []int
		for i := 0; i < n && len(missing) < 20; i++ {
			if !seen[i] {
				missing = append(missing, i)
			}
		}
		return fmt.Errorf("missing %d shards of %d, %v first (indexes from 0)", n-len(seen), n, missing)
	}
	return nil
}

// Tag is the shard's 12 bits in the UUIDs of the commands its process
// sends: 0 for the whole fleet, the index plus one for a shard. The shards
// of a run against one server send their own commands (a server keeps a
// command's UUID once); it tells up to 4095 shards apart.
func (s Shard) Tag() uint16 {
	if !s.Sharded() {
		return 0
	}
	return uint16(s.Index+1) & 0xfff
}
