// Package embedded is the target of the in-process reference stack
// (refmdm: NanoMDM + KMFDDM + a SCEP CA), on the world's clock and mock
// APNs: the default target, and the one where a run is deterministic.
//
// It is the nanomdm target pointed at the stack's APIs, with what only an
// in-process server can offer besides: identities minted by its CA (the
// fast path of large fleets), whether a Mac escrowed its bootstrap token,
// what the server recorded, and the reference enforcers as its own update
// policy.
package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/refmdm"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/reference"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// Option configures the target.
type Option func(*config)

type config struct {
	logger *slog.Logger
	mtls   bool
	mint   bool
	mutant reference.Mutant
}

// WithMutant makes the target a broken server, for the conformance
// suite's self-test: its update policy (and, for some mutants, the stack)
// makes the mistake the mutant names.
func WithMutant(m reference.Mutant) Option { return func(c *config) { c.mutant = m } }

// WithLogger logs the stack's activity.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMutualTLS makes devices authenticate with their TLS client
// certificate instead of Mdm-Signature.
func WithMutualTLS() Option { return func(c *config) { c.mtls = true } }

// WithMintedIdentities skips SCEP: devices get identities the stack's CA
// issues directly (no RSA key generation per device).
func WithMintedIdentities() Option { return func(c *config) { c.mint = true } }

// Target is the embedded stack as a scenarios.Target.
type Target struct {
	*nanomdm.Target
	cfg   config
	stack *refmdm.Stack
	world *scenarios.World
	cmds  commands

	wg sync.WaitGroup
	// stop ends the enforcements the policy started, at Close.
	stop    context.CancelFunc
	stopCtx context.Context
}

// New starts the stack on the world's clock and mock APNs.
func New(ctx context.Context, w *scenarios.World, opts ...Option) (*Target, error) {
	cfg := config{logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	sopts := []refmdm.Option{refmdm.WithLogger(cfg.logger), refmdm.WithClock(w.Clock), refmdm.WithAPNs(w.APNs)}
	if cfg.mtls {
		sopts = append(sopts, refmdm.WithMutualTLS())
	}
	// The server-side mutants are the stack's own mistakes.
	switch cfg.mutant {
	case reference.MutantAcceptsForeignCA:
		sopts = append(sopts, refmdm.WithMutation(refmdm.MutationAcceptsForeignCA))
	case reference.MutantKeepsCheckedOutQueue:
		sopts = append(sopts, refmdm.WithMutation(refmdm.MutationKeepsCheckedOutQueue))
	}
	stack, err := refmdm.Start(ctx, sopts...)
	if err != nil {
		return nil, err
	}
	w.APNs.AllowTopic(stack.Topic)
	roots, err := pki.ParseCertificates(stack.CACertPEM())
	if err != nil {
		stack.Close()
		return nil, err
	}
	nt, err := nanomdm.New(ctx, w, nanomdm.Config{
		Name:       "embedded",
		APIURL:     stack.URL + refmdm.PathAPI,
		APIKey:     stack.APIKey,
		DDMURL:     stack.URL + refmdm.PathDDMAPI,
		Profile:    stack.EnrollmentProfile(),
		Roots:      roots,
		HTTPClient: stack.HTTPClient(),
	})
	if err != nil {
		stack.Close()
		return nil, err
	}
	t := &Target{Target: nt, cfg: cfg, stack: stack, world: w}
	t.stopCtx, t.stop = context.WithCancel(context.Background())
	t.cmds = commands{Commands: nt.Commands(), stack: stack}
	return t, nil
}

// Stack is the running stack.
func (t *Target) Stack() *refmdm.Stack { return t.stack }

// Enrollment implements scenarios.Target.
func (t *Target) Enrollment(ctx context.Context) (scenarios.Enrollment, error) {
	e, err := t.Target.Enrollment(ctx)
	if t.cfg.mint {
		e.Identities = t.stack.MintCredential
	}
	return e, err
}

// Commands implements scenarios.Target, with bootstrap tokens.
func (t *Target) Commands() scenarios.Commands { return t.cmds }

// ServerView implements the scenarios.ServerView capability: what the
// stack recorded.
func (t *Target) ServerView() scenarios.ServerView { return serverView{t.stack} }

// UpdatePolicy implements scenarios.Target with the reference enforcers.
func (t *Target) UpdatePolicy() scenarios.UpdatePolicy { return policy{t} }

// Close ends the enforcements the policy started, waits for them, and
// stops the stack.
func (t *Target) Close() error {
	t.stop()
	t.wg.Wait()
	return t.stack.Close()
}

type commands struct {
	scenarios.Commands
	stack *refmdm.Stack
}

func (c commands) BootstrapTokenEscrowed(ctx context.Context, udid string) bool {
	return c.stack.BootstrapTokenEscrowed(ctx, udid)
}

type serverView struct{ stack *refmdm.Stack }

func (v serverView) CommandStatus(udid, uuid string) (string, bool) {
	var st string
	for _, r := range v.stack.ResultsFor(uuid) {
		if r.UDID == udid {
			st = r.Status
		}
	}
	return st, st != ""
}

func (v serverView) Seen() int { return v.stack.ResultsSeen() }

// policy is the stack's update policy: the reference enforcers, started
// in the background; the devices show what comes of it.
type policy struct{ t *Target }

func (p policy) EnforceUpdate(ctx context.Context, req scenarios.UpdateRequest) error {
	t := p.t
	if req.Version != "" {
		return fmt.Errorf("embedded: update policy: %w: the reference enforcers choose the version (the latest the device can take)", scenarios.ErrUnsupported)
	}
	clk := t.world.Clock
	lead := clk.Until(req.Deadline)
	if lead <= 0 {
		return fmt.Errorf("embedded: update policy: the deadline %s has passed", req.Deadline.Format(time.RFC3339))
	}
	// The unit keeps the clock still until Run holds its own units; Run
	// gives it back then (Started), so no instant lies between.
	work := clock.NewWork(clk, "enforcer")
	work.Begin()
	var once sync.Once
	started := func() { once.Do(work.End) }
	t.wg.Add(1)
	switch req.Method {
	case scenarios.MethodDDM:
		e := reference.NewDDMEnforcer(t.cmds, t.Declarations(), t.world.Observer,
			reference.DDMEnforcerConfig{Clock: clk, Lead: lead, Releases: t.world.Releases, Mutant: t.cfg.mutant, Started: started})
		go func() {
			defer t.wg.Done()
			defer started() // should Run return before holding work
			e.Run(t.stopCtx, req.UDIDs)
		}()
	case scenarios.MethodLegacy, "":
		e := reference.NewEnforcer(t.cmds, t.world.Observer, reference.EnforcerConfig{Clock: clk, Deadline: lead, Mutant: t.cfg.mutant, Started: started})
		go func() {
			defer t.wg.Done()
			defer started()
			e.Run(t.stopCtx, req.UDIDs)
		}()
	default:
		work.End()
		t.wg.Done()
		return fmt.Errorf("embedded: update policy: unknown method %q", req.Method)
	}
	return nil
}
