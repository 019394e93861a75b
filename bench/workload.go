package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/cpuside"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Workloads.
const (
	// WorkloadEnroll is an enrollment storm: each operation enrolls one
	// device (with the target's minted identities when it offers them,
	// over SCEP otherwise).
	WorkloadEnroll = "enroll"
	// WorkloadCheckin is idle check-ins: each operation is one enrolled
	// device's command session with nothing queued.
	WorkloadCheckin = "checkin"
	// WorkloadPush is a push storm: each operation queues a command for a
	// batch of devices and pushes them; "push" is each device's latency
	// from the enqueue to its answer.
	WorkloadPush = "push"
	// WorkloadCommands is command rounds: each operation sends one device
	// DeviceInformation and waits for its answer.
	WorkloadCommands = "commands"
	// WorkloadRollout is a software-update rollout (Workload.Rollout):
	// one operation, the whole update job over days of the world's time,
	// measured by the fleet's compliance curve and each device's
	// "time-to-compliant" in virtual time.
	WorkloadRollout = "rollout"
)

// Workloads lists the workloads.
var Workloads = []string{WorkloadEnroll, WorkloadCheckin, WorkloadPush, WorkloadCommands, WorkloadRollout}

// Defaults of a workload.
const (
	DefaultBatch  = 100
	DefaultRounds = 1
	DefaultWait   = 60 * time.Second
)

// Workload describes a benchmark against a target: the fleet, the work
// and how it is offered.
type Workload struct {
	// Name is one of Workloads.
	Name string
	// Devices and Seed draw the fleet (fleet.New).
	Devices int
	Seed    int64
	// Shard, when set, runs only that slice of the fleet, as one of
	// several processes (fleet.Shard); MergeResults adds their Results
	// up. Devices stays the whole fleet's size.
	Shard fleet.Shard
	// Batch is the push storm's devices per operation.
	Batch int
	// Rounds is how many commands each device gets (commands, push).
	Rounds int
	// Wait bounds the wait for a command's answers.
	Wait time.Duration
	// Rollout says which rollout the rollout workload runs.
	Rollout Rollout
	// Run is the pacing.
	Run Config
	// DeviceOptions are added to the devices' Env.
	DeviceOptions []simulator.Option
	// Say prints progress; nil prints nothing.
	Say func(format string, a ...any)
	// AfterRun, when set, runs once the work is done and before the fleet
	// is released: a heap profile taken there holds the live fleet.
	AfterRun func()
}

// Validate checks the workload and fills defaults.
func (wl *Workload) Validate() error {
	known := false
	for _, n := range Workloads {
		known = known || n == wl.Name
	}
	if !known {
		return fmt.Errorf("bench: unknown workload %q (want one of %v)", wl.Name, Workloads)
	}
	if wl.Devices < 1 {
		return fmt.Errorf("bench: devices must be at least 1, have %d", wl.Devices)
	}
	if err := wl.Shard.Validate(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if wl.Batch <= 0 {
		wl.Batch = DefaultBatch
	}
	if wl.Rounds <= 0 {
		wl.Rounds = DefaultRounds
	}
	if wl.Wait <= 0 {
		wl.Wait = DefaultWait
	}
	if wl.Say == nil {
		wl.Say = func(string, ...any) {}
	}
	if wl.Name == WorkloadRollout {
		if err := wl.Rollout.validate(); err != nil {
			return err
		}
		// One operation: the rollout.
		if wl.Run.Model == Open || wl.Run.Rate > 0 || wl.Run.Pacer != nil || wl.Run.Duration > 0 {
			return errors.New("bench: the rollout workload is one run of the update job: it takes no rate, pacer or duration")
		}
		wl.Run.Model, wl.Run.Workers = Closed, 1
	}
	return wl.Run.Validate()
}

// RunWorkload draws the fleet in w, enrolls it in t unless the workload is
// the enrollment itself, runs the workload and returns its Result. The
// fleet is the pacer's: no goroutine per device, only the runner's
// workers (and the devices' own sessions when pushed).
//
// The rollout workload lives days of w's clock, which should be the
// discrete-event clock (for a target in the process; paused, as
// clock.NewDiscrete returns it, so that the story starts with the
// enforcement) or a scaled one (for a server on real time).
func RunWorkload(ctx context.Context, w *scenarios.World, t scenarios.Target, wl Workload) (*Result, error) {
	if err := wl.Validate(); err != nil {
		return nil, err
	}
	if lo, hi := wl.Shard.Range(wl.Devices); lo == hi {
		// More shards than devices: this one has none, and says so.
		return wl.shardResult(&Result{Schema: SchemaVersion, Pacing: wl.Run.pacing(), Started: time.Now(),
			Ops: map[string]*OpStats{}, Errors: map[string]int64{}}, t), nil
	}
	if wl.Name == WorkloadRollout {
		return runRollout(ctx, w, t, wl)
	}
	enr, err := t.Enrollment(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: enrollment: %w", t.Name(), err)
	}
	tr := &tracker{waits: map[string]*batchWait{}}
	opts := []simulator.Option{simulator.WithClock(w.Clock), simulator.WithPushService(w.APNs),
		simulator.WithEvents(w.Observer.OnEvent), simulator.WithEvents(tr.onEvent), simulator.WithRootCAs(enr.Roots...)}
	if enr.PollInterval > 0 {
		opts = append(opts, simulator.WithPollInterval(enr.PollInterval))
	}
	heap0 := HeapInUse()
	f, err := fleet.NewContext(ctx, fleet.Config{Devices: wl.Devices, Seed: wl.Seed, MacFraction: fleet.DefaultMacFraction, Catalog: w.Catalog, Shard: wl.Shard},
		append(opts, wl.DeviceOptions...)...)
	if err != nil {
		return nil, err
	}
	defer f.Env().Close()
	profile, err := enr.ReadProfile(ctx, f.Env())
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", t.Name(), err)
	}
	devices := f.Devices()
	n := uint64(len(devices))
	if wl.Name != WorkloadEnroll {
		wl.Say("enrolling %d devices in %s", len(devices), t.Name())
		if got, err := f.Enroll(ctx, profile, enr.Identities); got == 0 {
			return nil, fmt.Errorf("bench: no device enrolled: %w", err)
		}
		if wl.Name != WorkloadCheckin {
			if err := scenarios.Require(t, scenarios.CapCommands); err != nil {
				return nil, err
			}
		}
	}
	gauges, _ := wl.Run.Observer.(GaugeObserver)
	enrolled := func() {
		if gauges != nil {
			gauges.SetEnrolled(int(f.Counters().Enrolled.Load()))
		}
	}
	enrolled()
	var ops Ops
	switch wl.Name {
	case WorkloadEnroll:
		ops = Ops{Name: "enroll", Total: n, Op: func(ctx context.Context, i uint64, _ *Recorder) error {
			d := devices[i%n]
			defer enrolled()
			if enr.Identities == nil {
				return d.Enroll(ctx, profile)
			}
			var cred *protocol.Credential
			var err error
			// Minting is the target's work.
			cpuside.Do(cpuside.Simulator, cpuside.Server, func() { cred, err = enr.Identities(d.UDID()) })
			if err != nil {
				return &KindError{Kind: "mint", Err: err}
			}
			return d.EnrollWithCredential(ctx, profile, cred)
		}}
	case WorkloadCheckin:
		ops = Ops{Name: "checkin", Op: func(ctx context.Context, i uint64, _ *Recorder) error {
			return devices[i%n].Connect(ctx)
		}}
		if wl.Run.Duration == 0 {
			ops.Total = n
		}
	case WorkloadCommands:
		ops = Ops{Name: "command", Total: n * uint64(wl.Rounds), Op: func(ctx context.Context, i uint64, _ *Recorder) error {
			return commandRound(ctx, w, t, devices[i%n].UDID(), wl.commandUUID(i), wl.Wait)
		}}
	case WorkloadPush:
		batches := (n + uint64(wl.Batch) - 1) / uint64(wl.Batch)
		ops = Ops{Name: "batch", Total: batches * uint64(wl.Rounds), Op: func(ctx context.Context, i uint64, rec *Recorder) error {
			lo := (i % batches) * uint64(wl.Batch)
			hi := min(lo+uint64(wl.Batch), n)
			udids := make([]string, 0, hi-lo)
			for _, d := range devices[lo:hi] {
				udids = append(udids, d.UDID())
			}
			return tr.pushBatch(ctx, w, t, udids, wl.commandUUID(1<<40|i), wl.Wait, rec)
		}}
	}
	wl.Say("running %s against %s", wl.Name, t.Name())
	res, err := Run(ctx, wl.Run, ops)
	if err != nil {
		return nil, err
	}
	if wl.AfterRun != nil {
		wl.AfterRun()
	}
	wl.shardResult(res, t)
	res.Enrolled = int(f.Counters().Enrolled.Load())
	if wl.Name == WorkloadEnroll && res.Enrolled > 0 {
		// The live heap the enrolled, idle fleet holds, the target's
		// share included when it runs in this process.
		if heap := res.HeapBytes; heap > heap0 {
			res.BytesPerDevice = float64(heap-heap0) / float64(res.Enrolled)
		}
	}
	return res, nil
}

// shardResult fills in what the workload knows of res: its name, the
// target, the fleet and, for a shard, which and how many devices.
func (wl *Workload) shardResult(res *Result, t scenarios.Target) *Result {
	res.Workload, res.Target, res.Devices, res.Seed = wl.Name, t.Name(), wl.Devices, wl.Seed
	if wl.Name == WorkloadRollout {
		res.Scenario = wl.Rollout.Scenario
	}
	if res.Shard = shardOf(wl.Shard); res.Shard != nil {
		lo, hi := wl.Shard.Range(wl.Devices)
		res.ShardDevices = hi - lo
	}
	return res
}

// commandUUID is the UUID of a workload's i-th command: its shard's own
// (a server keeps a command's UUID once, and the shards of a run may
// share one), the same as before shards for the whole fleet.
func (wl *Workload) commandUUID(i uint64) string {
	tag := uint16(0xE63)
	if wl.Shard.Sharded() {
		// 0x000 to 0xE62: the 3683 shards that keep clear of 0xE63.
		tag = uint16(wl.Shard.Index % 0xE63)
	}
	return fmt.Sprintf("6D646D73-6265-4%03X-%04X-%012X", tag, uint16(wl.Seed), i&0xffffffffffff)
}

func deviceInformation(uuid string) scenarios.Command {
	return scenarios.Command{UUID: uuid, RequestType: "DeviceInformation",
		Payload: map[string]any{"Queries": []string{"UDID", "OSVersion", "BuildVersion", "ProductName", "SerialNumber"}}}
}

// ErrNotAnswered is a command whose answer did not come within the wait.
var ErrNotAnswered = errors.New("bench: not answered in time")

// commandRound sends one device DeviceInformation and waits, through the
// world's Observer, for its answer.
func commandRound(ctx context.Context, w *scenarios.World, t scenarios.Target, udid, uuid string, wait time.Duration) error {
	obs := w.Observer
	obs.Expect(uuid)
	defer obs.Forget(uuid)
	var err error
	cpuside.Do(cpuside.Simulator, cpuside.Server, func() { err = t.Commands().Enqueue(ctx, []string{udid}, deviceInformation(uuid)) })
	if err != nil {
		return &KindError{Kind: "enqueue", Err: err}
	}
	ok, err := obs.Await(ctx, uuid, 1, nil, w.Clock, wait)
	if err != nil {
		return err
	}
	if !ok {
		return &KindError{Kind: "not-answered", Err: ErrNotAnswered}
	}
	if a := obs.Answers(uuid); len(a) == 0 || a[0].Status != protocol.StatusAcknowledged {
		return &KindError{Kind: "not-acknowledged", Err: fmt.Errorf("bench: %s answered %v", udid, a)}
	}
	return nil
}

// tracker times the answers to the push storm's commands as the devices
// send them.
type tracker struct {
	mu    sync.Mutex
	waits map[string]*batchWait
}

type batchWait struct {
	start   time.Time
	clk     interface{ Since(time.Time) time.Duration }
	left    int
	done    chan struct{}
	rec     *Recorder
	errored int
}

func (tr *tracker) onEvent(e simulator.Event) {
	if e.Kind != simulator.EventCommand {
		return
	}
	tr.mu.Lock()
	b := tr.waits[e.CommandUUID]
	if b == nil || b.left == 0 {
		tr.mu.Unlock()
		return
	}
	b.left--
	if e.Err != nil || e.Status != protocol.StatusAcknowledged {
		b.errored++
	}
	if b.left == 0 {
		close(b.done)
	}
	tr.mu.Unlock()
	if e.Err == nil {
		b.rec.Record("push", b.clk.Since(b.start))
	}
}

// pushBatch queues a command for udids, pushes them and waits for every
// answer.
func (tr *tracker) pushBatch(ctx context.Context, w *scenarios.World, t scenarios.Target, udids []string, uuid string, wait time.Duration, rec *Recorder) error {
	b := &batchWait{start: w.Clock.Now(), clk: w.Clock, left: len(udids), done: make(chan struct{}), rec: rec}
	tr.mu.Lock()
	tr.waits[uuid] = b
	tr.mu.Unlock()
	defer func() {
		tr.mu.Lock()
		delete(tr.waits, uuid)
		tr.mu.Unlock()
	}()
	var err error
	cpuside.Do(cpuside.Simulator, cpuside.Server, func() { err = t.Commands().Enqueue(ctx, udids, deviceInformation(uuid)) })
	if err != nil {
		return &KindError{Kind: "enqueue", Err: err}
	}
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-b.done:
		case <-wctx.Done():
		}
		cancel()
	}()
	_ = w.Clock.Sleep(wctx, wait) // ends early when every answer came
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	tr.mu.Lock()
	left, errored := b.left, b.errored
	tr.mu.Unlock()
	if left > 0 {
		for range left {
			rec.Error("push", &KindError{Kind: "not-answered", Err: ErrNotAnswered})
		}
		return &KindError{Kind: "not-answered", Err: fmt.Errorf("bench: %d of %d devices did not answer within %s", left, len(udids), wait)}
	}
	if errored > 0 {
		return &KindError{Kind: "not-acknowledged", Err: fmt.Errorf("bench: %d of %d devices did not acknowledge", errored, len(udids))}
	}
	return nil
}
