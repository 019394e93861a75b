package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// runJob runs one shard (or all) of a job in a process of its own, as far
// as a test can: its own world and target; it returns the JSON summary
// the process would print.
func runJob(t *testing.T, cfg jobs.Config, job func(context.Context, *jobs.Run, func()) (any, error)) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a bound for a hang only
	defer cancel()
	var pause func()
	if cfg.Clock == nil {
		clk := clock.NewDiscrete(catalog.Default().LatestPostingDate().AddDate(0, 0, 10).Add(9 * time.Hour))
		defer clk.Close()
		cfg.Clock, pause = clk, clk.Pause
	}
	r, err := jobs.Start(ctx, cfg)
	if r != nil {
		defer r.Close()
	}
	if err != nil {
		t.Fatalf("shard %v: Start: %v", cfg.Shard, err)
	}
	sum, err := job(ctx, r, pause)
	if err != nil {
		t.Fatalf("shard %v: %v", cfg.Shard, err)
	}
	b, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shardsOf runs n shards of cfg's job and merges their summaries.
func shardsOf(t *testing.T, cfg jobs.Config, n int, job func(context.Context, *jobs.Run, func()) (any, error)) any {
	t.Helper()
	var in []io.Reader
	for i := n - 1; i >= 0; i-- {
		c := cfg
		c.Shard = fleet.Shard{Index: i, Count: n}
		// As `mdmsim run` prints it: progress, then the summary.
		in = append(in, strings.NewReader("enrolled ...\n"+string(runJob(t, c, job))+"\n"))
	}
	m, err := jobs.MergeSummaries(in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMergeDeviceInformation: DeviceInformation to a fleet of the null
// target in four shards adds up to the one-process summary.
func TestMergeDeviceInformation(t *testing.T) {
	t.Parallel()
	cfg := jobs.Config{Target: targets.Null, Devices: 22, Seed: 3}
	job := func(ctx context.Context, r *jobs.Run, _ func()) (any, error) {
		return jobs.DeviceInformation(ctx, r, time.Minute)
	}
	var whole jobs.DeviceInfoSummary
	if err := json.Unmarshal(runJob(t, cfg, job), &whole); err != nil {
		t.Fatal(err)
	}
	m := shardsOf(t, cfg, 4, job).(jobs.DeviceInfoSummary)
	if m.Shards != 4 || m.Shard != nil {
		t.Errorf("merged: shards %d, shard %v", m.Shards, m.Shard)
	}
	m.Shards = 0
	if !reflect.DeepEqual(m, whole) || !whole.OK() || whole.Devices != 22 {
		t.Errorf("merged %+v\none process %+v", m, whole)
	}
}

// TestMergeDDMDeadline: the ddm-deadline job on the discrete-event clock,
// in three shards against three embedded stacks, adds up to the
// one-process verdict: devices, reasons, the mix, lateness, who was
// switched off, time zones.
func TestMergeDDMDeadline(t *testing.T) {
	t.Parallel()
	pop := fleet.DefaultPopulation()
	cfg := jobs.Config{Devices: 18, Seed: 7, Mint: true, Population: &pop}
	job := func(ctx context.Context, r *jobs.Run, pause func()) (any, error) {
		return jobs.DDMDeadline(ctx, r, jobs.DDMConfig{Lead: 48 * time.Hour, Off: 0.2}, pause)
	}
	var whole jobs.DDMSummary
	if err := json.Unmarshal(runJob(t, cfg, job), &whole); err != nil {
		t.Fatal(err)
	}
	m := shardsOf(t, cfg, 3, job).(jobs.DDMSummary)
	m.Shards = 0
	if !reflect.DeepEqual(m, whole) {
		t.Errorf("merged %+v\none process %+v", m, whole)
	}
	if whole.SwitchedOff == 0 || whole.Compliant == 0 || whole.Noncompliant == 0 {
		t.Errorf("a fleet without every outcome says little: %+v", whole)
	}
}

func TestMergeSummariesRefuses(t *testing.T) {
	t.Parallel()
	doc := func(job string, seed int64, fleetDevices, i, n, devices int) string {
		b, _ := json.Marshal(jobs.DeviceInfoSummary{ShardOf: jobs.ShardOf{Job: job, Seed: seed, FleetDevices: fleetDevices,
			Shard: &fleet.Shard{Index: i, Count: n}}, Devices: devices})
		return string(b)
	}
	di := jobs.JobDeviceInformation
	for _, c := range []struct {
		name string
		docs []string
		want string
	}{
		{"none", nil, "no summaries"},
		{"garbage", []string{"{"}, "not a job's summary"},
		{"unsharded", []string{`{"job":"device-information","seed":1,"fleet_devices":4}`}, "not a shard's"},
		{"job", []string{doc(di, 1, 4, 0, 2, 2), doc(jobs.JobLegacyUpdate, 1, 4, 1, 2, 2)}, "of job"},
		{"seed", []string{doc(di, 1, 4, 0, 2, 2), doc(di, 2, 4, 1, 2, 2)}, "seed"},
		{"fleet", []string{doc(di, 1, 4, 0, 2, 2), doc(di, 1, 5, 1, 2, 2)}, "fleet of"},
		{"twice", []string{doc(di, 1, 4, 0, 2, 2), doc(di, 1, 4, 0, 2, 2)}, "given twice"},
		{"missing", []string{doc(di, 1, 4, 0, 3, 2)}, "missing 2 shards of 3, [1 2]"},
		{"devices", []string{doc(di, 1, 4, 0, 2, 2), doc(di, 1, 4, 1, 2, 1)}, "hold 3 devices together, the fleet 4"},
		{"unknown job", []string{doc("mine", 1, 4, 0, 1+1, 2), doc("mine", 1, 4, 1, 2, 2)}, "unknown job"},
		{"huge", []string{strings.Repeat(" ", jobs.MaxSummarySize+1)}, "larger"},
	} {
		var in []io.Reader
		for _, d := range c.docs {
			in = append(in, bytes.NewReader([]byte(d)))
		}
		_, err := jobs.MergeSummaries(in)
		if !errors.Is(err, jobs.ErrMerge) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: have %v, want an ErrMerge saying %q", c.name, err, c.want)
		}
	}
}
