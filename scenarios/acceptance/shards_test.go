package acceptance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/stock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// TestStockShards: one stock NanoMDM, the DeviceInformation job run by one
// process's worth of harness and by four shards side by side, each with
// its own mock Apple services as four processes would have: the shards'
// summaries, merged, are the one process's. The server pushes to one
// place, so the devices poll (as deploy/kubernetes runs them).
func TestStockShards(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stock servers; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	srv, err := stock.Start(ctx, stock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	const devices, seed = 20, 11
	// run is one process: its world, its target, its shard of the fleet.
	run := func(s fleet.Shard) ([]byte, error) {
		w, err := scenarios.NewWorld(scenarios.WorldConfig{Seed: seed})
		if err != nil {
			return nil, err
		}
		defer w.Close()
		tg, err := nanomdm.New(ctx, w, nanomdm.Config{APIURL: srv.NanoMDMURL + "/v1", APIKey: srv.APIKey,
			Profile: srv.Profile, PollInterval: 500 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		defer tg.Close()
		r, err := jobs.Attach(ctx, jobs.Config{Devices: devices, Seed: seed, Shard: s}, w, tg)
		if err != nil {
			return nil, err
		}
		sum, err := jobs.DeviceInformation(ctx, r, 2*time.Minute)
		if err != nil {
			return nil, err
		}
		return json.Marshal(sum)
	}
	one, err := run(fleet.Shard{})
	if err != nil {
		t.Fatal(err)
	}
	var whole jobs.DeviceInfoSummary
	if err := json.Unmarshal(one, &whole); err != nil {
		t.Fatal(err)
	}
	if !whole.OK() || whole.Devices != devices {
		t.Fatalf("one process: %+v", whole)
	}
	outs := make([][]byte, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Go(func() { outs[i], errs[i] = run(fleet.Shard{Index: i, Count: len(outs)}) })
	}
	wg.Wait()
	var in []io.Reader
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("shard %d: %v", i, errs[i])
		}
		in = append(in, bytes.NewReader(outs[i]))
	}
	m, err := jobs.MergeSummaries(in)
	if err != nil {
		t.Fatal(err)
	}
	merged := m.(jobs.DeviceInfoSummary)
	t.Logf("one process %+v; four shards merged %+v", whole, merged)
	if merged.Shards != 4 {
		t.Errorf("merged from %d shards", merged.Shards)
	}
	merged.Shards = 0
	if !reflect.DeepEqual(merged, whole) {
		t.Errorf("four shards merged %+v\none process %+v", merged, whole)
	}
}
