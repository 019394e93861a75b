package fleet_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/update"
)

func TestParseShard(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want fleet.Shard
		bad  bool
	}{
		{in: "", want: fleet.Shard{}},
		{in: "0/1", want: fleet.Shard{Index: 0, Count: 1}},
		{in: "3/10", want: fleet.Shard{Index: 3, Count: 10}},
		{in: " 9 / 10 ", want: fleet.Shard{Index: 9, Count: 10}},
		{in: "10/10", bad: true}, // indexes count from 0
		{in: "-1/4", bad: true},
		{in: "0/0", bad: true},
		{in: "1/0", bad: true},
		{in: "4", bad: true},
		{in: "a/4", bad: true},
		{in: "1/b", bad: true},
		{in: "1/2/3", bad: true},
	} {
		have, err := fleet.ParseShard(c.in)
		if c.bad {
			if err == nil || !errors.Is(err, fleet.ErrShard) {
				t.Errorf("ParseShard(%q): have %v, %v; want an ErrShard", c.in, have, err)
			}
			continue
		}
		if err != nil || have != c.want {
			t.Errorf("ParseShard(%q): have %v, %v; want %v", c.in, have, err, c.want)
		}
	}
	if s, _ := fleet.ParseShard("2/5"); s.String() != "2/5" || !s.Sharded() {
		t.Errorf("2/5: String %q, Sharded %v", s.String(), s.Sharded())
	}
	if (fleet.Shard{}).Sharded() || (fleet.Shard{Count: 1}).Sharded() {
		t.Error("the whole fleet says it is sharded")
	}
}

func TestShardFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	s, ok, err := fleet.ShardFromEnv(env())
	if ok || err != nil || s != (fleet.Shard{}) {
		t.Errorf("no environment: have %v %v %v", s, ok, err)
	}
	s, ok, err = fleet.ShardFromEnv(env(fleet.EnvJobCompletionIndex, "7", fleet.EnvJobCompletions, "10"))
	if !ok || err != nil || s != (fleet.Shard{Index: 7, Count: 10}) {
		t.Errorf("7 of 10: have %v %v %v", s, ok, err)
	}
	for _, bad := range []func(string) string{
		env(fleet.EnvJobCompletionIndex, "7"),
		env(fleet.EnvJobCompletions, "10"),
		env(fleet.EnvJobCompletionIndex, "10", fleet.EnvJobCompletions, "10"),
		env(fleet.EnvJobCompletionIndex, "x", fleet.EnvJobCompletions, "10"),
	} {
		if _, _, err := fleet.ShardFromEnv(bad); !errors.Is(err, fleet.ErrShard) {
			t.Errorf("have %v, want an ErrShard", err)
		}
	}
	// The flag wins over the environment.
	e := env(fleet.EnvJobCompletionIndex, "7", fleet.EnvJobCompletions, "10")
	if s, err := fleet.ResolveShard("1/2", e); err != nil || s != (fleet.Shard{Index: 1, Count: 2}) {
		t.Errorf("flag and env: have %v %v", s, err)
	}
	if s, err := fleet.ResolveShard("", e); err != nil || s != (fleet.Shard{Index: 7, Count: 10}) {
		t.Errorf("env only: have %v %v", s, err)
	}
}

// deviceKey is everything a device is drawn with: identity, user,
// situation and quirks.
func deviceKey(d *simulator.Device) string {
	q := ""
	for _, name := range []string{update.QuirkPrepareStall, update.QuirkRebootGap, update.QuirkLaterReportsInstalling} {
		q += fmt.Sprintf("%s=%v ", name, d.QuirkOn(name))
	}
	return fmt.Sprintf("%+v|%+v|%+v|%s", d.Identity(), d.UserProfile(), d.Environment(), q)
}

// TestShardsMakeTheFleet: n shards of a seed are exactly the devices of
// the unsharded fleet, each device the same, in the same order, with no
// overlap and no gap, for n below, at and above the fleet's size.
func TestShardsMakeTheFleet(t *testing.T) {
	t.Parallel()
	pop := fleet.DefaultPopulation()
	quirks := map[string]float64{update.QuirkPrepareStall: 0.3, update.QuirkRebootGap: 0.5, update.QuirkLaterReportsInstalling: 0.7}
	const devices = 37
	cfg := func(s fleet.Shard) fleet.Config {
		return fleet.Config{Devices: devices, Seed: 42, MacFraction: 0.5, Population: &pop, Quirks: quirks, Shard: s}
	}
	whole, err := fleet.New(cfg(fleet.Shard{}))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, d := range whole.Devices() {
		want = append(want, deviceKey(d))
	}
	for _, n := range []int{1, 2, 4, 7, 36, 37, 50} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			var have []string
			seen := map[string]int{}
			for i := range n {
				f, err := fleet.New(cfg(fleet.Shard{Index: i, Count: n}))
				if err != nil {
					t.Fatal(err)
				}
				if f.Offset() != len(have) {
					t.Fatalf("shard %d/%d: offset %d, want %d (the devices before it)", i, n, f.Offset(), len(have))
				}
				if f.Size() != devices {
					t.Fatalf("shard %d/%d: size %d, want %d", i, n, f.Size(), devices)
				}
				if len(f.Devices()) > devices/n+1 || len(f.Devices()) < devices/n {
					t.Errorf("shard %d/%d holds %d devices: not balanced", i, n, len(f.Devices()))
				}
				for _, d := range f.Devices() {
					if j, dup := seen[d.UDID()]; dup {
						t.Fatalf("device %s in shards %d and %d", d.UDID(), j, i)
					}
					seen[d.UDID()] = i
					have = append(have, deviceKey(d))
				}
			}
			if len(have) != len(want) {
				t.Fatalf("%d shards hold %d devices, want %d", n, len(have), len(want))
			}
			for i := range want {
				if have[i] != want[i] {
					t.Fatalf("device %d differs:\nsharded   %s\nunsharded %s", i, have[i], want[i])
				}
			}
		})
	}
}

func TestShardRejected(t *testing.T) {
	t.Parallel()
	if _, err := fleet.New(fleet.Config{Devices: 4, Shard: fleet.Shard{Index: 4, Count: 4}}); !errors.Is(err, fleet.ErrShard) {
		t.Errorf("shard 4/4: have %v, want an ErrShard", err)
	}
}
