package cpusplit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/mdmsim/mdmsim/bench"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/internal/stock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/keypool"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Kind is the kind of identity a run's devices enroll with: it decides
// what signing an Mdm-Signature costs the device and what verifying it
// costs the server.
type Kind string

// Identity kinds.
const (
	// RSA is RSA-2048 identities obtained over SCEP from the stock
	// scepserver, as the enrollment profile asks.
	RSA Kind = "rsa"
	// ECDSA is ECDSA P-256 identities minted by a CA of the benchmark's
	// own, which NanoMDM is told to trust (-ca): no SCEP.
	ECDSA Kind = "ecdsa"
)

// Kinds lists the identity kinds, in the order Run measures them.
var Kinds = []Kind{RSA, ECDSA}

// Label names the kind in reports.
func (k Kind) Label() string {
	switch k {
	case RSA:
		return "RSA-2048 (SCEP)"
	case ECDSA:
		return "ECDSA P-256 (minted)"
	}
	return string(k)
}

// Goal is the largest ratio of the simulator's CPU to NanoMDM's, per idle
// check-in, that the project aims for with this kind: a third with ECDSA
// identities, where the device's signature is cheap and the simulator's
// own overhead shows; one with RSA-2048, whose signature alone costs the
// device about a millisecond.
func (k Kind) Goal() float64 {
	if k == ECDSA {
		return 1.0 / 3
	}
	return 1
}

// Defaults of a run.
const (
	DefaultDevices = 1000
	// DefaultCheckinsPerDevice makes the measured phase long enough for
	// /proc's 10 ms resolution to vanish in it.
	DefaultCheckinsPerDevice = 5
	DefaultWorkers           = 16
	DefaultWarmup            = 500
	DefaultSCEPCAKeySize     = 2048
)

// Config says what a run measures.
type Config struct {
	// Devices is the fleet enrolled for each kind (DefaultDevices).
	Devices int
	// Checkins is how many idle check-ins are measured for each kind
	// (DefaultCheckinsPerDevice per device), spread over the fleet in
	// turn.
	Checkins int
	// Warmup is how many idle check-ins run, unmeasured, before the
	// measured ones: connections opened, caches and heaps grown
	// (DefaultWarmup, at most Devices; negative for none).
	Warmup int
	// Workers is how many check-ins are in flight at once (closed model).
	Workers int
	// Seed draws the fleet.
	Seed int64
	// Kinds are the identity kinds measured, in order (default Kinds).
	Kinds []Kind
	// SCEPCAKeySize is the RSA key size of scepserver's CA, which signs
	// the RSA identities and whose signature NanoMDM checks on every
	// request (DefaultSCEPCAKeySize; scepserver's own default is 4096).
	SCEPCAKeySize int
	// Binaries are the stock servers to run; zero means stock.Build.
	Binaries stock.Binaries
	// KeyPoolDir, when set, is a key pool's cache folder (keypool): the
	// RSA enrollments take their keys from it, device i the pool's key i,
	// instead of generating them (a minute of CPU per thousand devices,
	// outside the measured phase either way).
	KeyPoolDir string
	// DeviceOptions are added to the devices' Env.
	DeviceOptions []simulator.Option
	// CPUProfileDir, when set, receives a CPU profile of this process
	// over each kind's measured phase, cpusplit-<kind>.pprof (go tool
	// pprof). Profiling costs a little CPU of its own.
	CPUProfileDir string
	// ServerOutput receives the servers' command lines. Their output goes
	// to files, never through this process (whose CPU is measured); its
	// tail comes with an error.
	ServerOutput io.Writer
	// Say prints progress; nil prints nothing.
	Say func(format string, a ...any)
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Devices == 0 {
		c.Devices = DefaultDevices
	}
	if c.Devices < 1 {
		return fmt.Errorf("cpusplit: devices must be at least 1, have %d", c.Devices)
	}
	if c.Checkins == 0 {
		c.Checkins = DefaultCheckinsPerDevice * c.Devices
	}
	if c.Checkins < 1 {
		return fmt.Errorf("cpusplit: check-ins must be at least 1, have %d", c.Checkins)
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = min(DefaultWarmup, c.Devices)
	case c.Warmup < 0:
		c.Warmup = 0
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Workers < 1 {
		return fmt.Errorf("cpusplit: workers must be at least 1, have %d", c.Workers)
	}
	if len(c.Kinds) == 0 {
		c.Kinds = Kinds
	}
	for _, k := range c.Kinds {
		if k != RSA && k != ECDSA {
			return fmt.Errorf("cpusplit: unknown identity kind %q (want %q or %q)", k, RSA, ECDSA)
		}
	}
	if c.SCEPCAKeySize == 0 {
		c.SCEPCAKeySize = DefaultSCEPCAKeySize
	}
	if c.Say == nil {
		c.Say = func(string, ...any) {}
	}
	return nil
}

// SchemaVersion is the version of Report's JSON.
const SchemaVersion = 1

// Report is a whole run: the set-up and the figures of each kind.
type Report struct {
	Schema        int       `json:"schema"`
	Started       time.Time `json:"started"`
	GoVersion     string    `json:"go_version"`
	NumCPU        int       `json:"num_cpu"`
	NanoMDM       string    `json:"nanomdm"`
	Devices       int       `json:"devices"`
	Checkins      int       `json:"checkins"`
	Warmup        int       `json:"warmup"`
	Workers       int       `json:"workers"`
	Seed          int64     `json:"seed"`
	SCEPCAKeySize int       `json:"scep_ca_key_size"`
	Runs          []Figures `json:"runs"`
}

// Figures are what one kind measured.
type Figures struct {
	Kind     Kind   `json:"kind"`
	Identity string `json:"identity"`
	Enrolled int    `json:"enrolled"`
	// EnrollWall is the enrollment's wall time (not measured for CPU).
	EnrollWall bench.Duration `json:"enroll_wall"`
	// Checkins answered in the measured phase, and those that failed.
	Checkins int64 `json:"checkins"`
	Errors   int64 `json:"errors"`
	// Wall is the measured phase's wall time.
	Wall bench.Duration `json:"wall"`
	// SimulatorCPU is this process's CPU time over the measured phase
	// (getrusage); NanoMDMCPU the server process's (/proc/<pid>/stat).
	SimulatorCPU bench.Duration `json:"simulator_cpu"`
	NanoMDMCPU   bench.Duration `json:"nanomdm_cpu"`
	// Per answered check-in, in microseconds, and their ratio.
	SimulatorMicros float64 `json:"simulator_us_per_checkin"`
	NanoMDMMicros   float64 `json:"nanomdm_us_per_checkin"`
	Ratio           float64 `json:"ratio"`
	// Goal is Kind.Goal(); Met tells whether Ratio is within it.
	Goal float64 `json:"goal"`
	Met  bool    `json:"met"`
	// Latency of the measured check-ins (wall time, for context only:
	// both processes share the machine).
	Latency *bench.OpStats `json:"latency,omitempty"`
}

// Run measures each of cfg.Kinds in turn, each against stock servers of
// its own, and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := ProcessCPU(os.Getpid()); err != nil {
		return nil, err
	}
	if cfg.Binaries == (stock.Binaries{}) {
		cfg.Say("building the stock servers (go install, cached)")
		bins, err := stock.Build(ctx)
		if err != nil {
			return nil, err
		}
		cfg.Binaries = bins
	}
	rep := &Report{
		Schema: SchemaVersion, Started: time.Now(), GoVersion: runtime.Version(), NumCPU: runtime.NumCPU(),
		NanoMDM: stock.NanoMDMVersion + " (-storage inmem)", Devices: cfg.Devices, Checkins: cfg.Checkins,
		Warmup: cfg.Warmup, Workers: cfg.Workers, Seed: cfg.Seed, SCEPCAKeySize: cfg.SCEPCAKeySize,
	}
	for _, k := range cfg.Kinds {
		fig, err := RunKind(ctx, cfg, k)
		if err != nil {
			return rep, fmt.Errorf("cpusplit: %s: %w", k.Label(), err)
		}
		rep.Runs = append(rep.Runs, *fig)
	}
	return rep, nil
}

// RunKind starts stock servers (scepserver and NanoMDM, each its own
// process), enrolls cfg.Devices devices with identities of kind k, runs
// the warm-up check-ins, then the measured ones, reading the CPU time of
// this process and of NanoMDM's right before and right after them.
// cfg must have been validated.
func RunKind(ctx context.Context, cfg Config, k Kind) (_ *Figures, err error) {
	opts := stock.Options{Binaries: cfg.Binaries, CAKeySize: cfg.SCEPCAKeySize, Output: cfg.ServerOutput, LogFiles: true}
	var ca *pki.CA
	if k == ECDSA {
		dir, err := os.MkdirTemp("", "mdmsim-cpusplit-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if ca, err = newDeviceCA(); err != nil {
			return nil, err
		}
		opts.NanoMDMCA = filepath.Join(dir, "device-ca.pem")
		if err := os.WriteFile(opts.NanoMDMCA, ca.PEM, 0o644); err != nil {
			return nil, err
		}
	}
	cfg.Say("%s: starting scepserver and NanoMDM", k.Label())
	srv, err := stock.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nNanoMDM's output (tail):\n%s", err, tailLines(srv.Output("nanomdm"), 20))
		}
	}()
	pid := srv.PIDs()["nanomdm"]

	w, err := scenarios.NewWorld(scenarios.WorldConfig{Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	tg, err := nanomdm.New(ctx, w, nanomdm.Config{APIURL: srv.NanoMDMURL + "/v1", APIKey: srv.APIKey,
		Profile: srv.Profile, UploadPushCert: true})
	if err != nil {
		return nil, err
	}
	defer tg.Close()
	var target scenarios.Target = tg
	if ca != nil {
		minter, err := ca.NewMinter("mdmsim devices")
		if err != nil {
			return nil, err
		}
		target = mintingTarget{Target: tg, minter: minter}
	}

	enr, err := target.Enrollment(ctx)
	if err != nil {
		return nil, err
	}
	devOpts := []simulator.Option{simulator.WithPushService(w.APNs), simulator.WithRootCAs(enr.Roots...)}
	var pool *keypool.Pool
	if k == RSA && cfg.KeyPoolDir != "" {
		cfg.Say("%s: opening the key pool in %s", k.Label(), cfg.KeyPoolDir)
		if pool, err = keypool.Open(ctx, keypool.Config{Dir: cfg.KeyPoolDir, Size: cfg.Devices, Seed: cfg.Seed}); err != nil {
			return nil, err
		}
		devOpts = append(devOpts, simulator.WithKeySource(pool.SCEPKey))
	}
	f, err := fleet.New(fleet.Config{Devices: cfg.Devices, Seed: cfg.Seed, MacFraction: fleet.DefaultMacFraction,
		Catalog: w.Catalog}, append(devOpts, cfg.DeviceOptions...)...)
	if err != nil {
		return nil, err
	}
	defer f.Env().Close()
	if pool != nil {
		pool.Assign(f.UDIDs()...)
	}
	profile, err := enr.ReadProfile(ctx, f.Env())
	if err != nil {
		return nil, err
	}
	cfg.Say("%s: enrolling %d devices", k.Label(), cfg.Devices)
	t0 := time.Now()
	n, err := f.Enroll(ctx, profile, enr.Identities)
	if err != nil {
		return nil, fmt.Errorf("enroll: %d of %d enrolled: %w", n, cfg.Devices, err)
	}
	fig := &Figures{Kind: k, Identity: k.Label(), Enrolled: n, EnrollWall: bench.Duration(time.Since(t0)), Goal: k.Goal()}
	devices := f.Devices()
	connect := func(ctx context.Context, i uint64, _ *bench.Recorder) error {
		return devices[i%uint64(len(devices))].Connect(ctx)
	}
	run := bench.Config{Model: bench.Closed, Workers: cfg.Workers}

	if cfg.Warmup > 0 {
		cfg.Say("%s: %d warm-up check-ins", k.Label(), cfg.Warmup)
		res, err := bench.Run(ctx, run, bench.Ops{Name: "checkin", Total: uint64(cfg.Warmup), Op: connect})
		if err != nil {
			return nil, err
		}
		if n := errorCount(res); n > 0 {
			return nil, fmt.Errorf("warm-up: %d of %d check-ins failed: %v", n, cfg.Warmup, res.Errors)
		}
	}

	cfg.Say("%s: %d measured check-ins, %d at once", k.Label(), cfg.Checkins, cfg.Workers)
	// The enrollment's garbage is collected now, not on the measured
	// phase's account.
	runtime.GC()
	nano0, err := ProcessCPU(pid)
	if err != nil {
		return nil, err
	}
	// bench.Run reads this process's CPU (getrusage) right before and
	// right after the check-ins, before its own closing garbage
	// collection.
	stopProfile, err := startProfile(cfg.CPUProfileDir, k)
	if err != nil {
		return nil, err
	}
	res, err := bench.Run(ctx, run, bench.Ops{Name: "checkin", Total: uint64(cfg.Checkins), Op: connect})
	if perr := stopProfile(); err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	nano1, err := ProcessCPU(pid)
	if err != nil {
		return nil, err
	}
	if res.Partial {
		return nil, ctx.Err()
	}
	fig.Wall = res.Wall
	if op := res.Ops["checkin"]; op != nil {
		fig.Checkins, fig.Latency = op.Count, op
	}
	fig.Errors = errorCount(res)
	fig.SimulatorCPU = res.CPU["process"]
	fig.NanoMDMCPU = bench.Duration(nano1 - nano0)
	if fig.Checkins == 0 {
		return fig, fmt.Errorf("no check-in answered (%v)", res.Errors)
	}
	answered := float64(fig.Checkins)
	fig.SimulatorMicros = float64(time.Duration(fig.SimulatorCPU).Microseconds()) / answered
	fig.NanoMDMMicros = float64(time.Duration(fig.NanoMDMCPU).Microseconds()) / answered
	if fig.NanoMDMMicros > 0 {
		fig.Ratio = fig.SimulatorMicros / fig.NanoMDMMicros
		fig.Met = fig.Ratio <= fig.Goal
	}
	return fig, nil
}

// startProfile starts a CPU profile into dir/cpusplit-<k>.pprof, or
// nothing when dir is empty.
func startProfile(dir string, k Kind) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(filepath.Join(dir, "cpusplit-"+string(k)+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

func errorCount(res *bench.Result) int64 {
	var n int64
	for _, c := range res.Errors {
		n += c
	}
	return n
}

// mintingTarget is NanoMDM's target whose devices get their identities
// from ca, which NanoMDM trusts, instead of over SCEP.
type mintingTarget struct {
	scenarios.Target
	minter *pki.Minter
}

func (t mintingTarget) Enrollment(ctx context.Context) (scenarios.Enrollment, error) {
	e, err := t.Target.Enrollment(ctx)
	e.Identities = t.mint
	return e, err
}

// mint issues a device identity as NanoMDM's -ca check wants it: an
// ECDSA P-256 key and a certificate for client authentication.
func (t mintingTarget) mint(commonName string) (*protocol.Credential, error) {
	now := time.Now()
	der, key, err := t.minter.Mint(commonName, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, err
	}
	return protocol.NewCredentialDER(der, key)
}

// newDeviceCA makes the ECDSA P-256 CA the minted identities come from.
func newDeviceCA() (*pki.CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca, err := pki.NewCA("mdmsim cpusplit device CA", key, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		return nil, errors.Join(errors.New("device CA"), err)
	}
	return ca, nil
}
