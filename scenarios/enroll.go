package scenarios

import (
	"context"
	"fmt"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// EnrolledFleet is a fleet drawn in a World and enrolled in a Target.
type EnrolledFleet struct {
	*fleet.Fleet
	// Enrolled is how many devices enrolled.
	Enrolled int
	// Polling is set when devices check in on their own (the target's
	// pushes cannot reach them): results are not those of a real fleet.
	Polling bool

	target  Target
	profile *protocol.EnrollmentProfile
	mint    fleet.IdentitySource
}

// Enroll draws the fleet cfg describes on the world's clock (a zero
// cfg.Start is the clock's now: no device runs an OS posted later), with the
// world's APNs and Observer, and enrolls it in the target with the trust
// the target gives for all of a device's TLS (profile, SCEP, check-ins).
// It returns the fleet with the error of the first device that failed.
func Enroll(ctx context.Context, w *World, t Target, cfg fleet.Config, opts ...simulator.Option) (*EnrolledFleet, error) {
	ef, err := Draw(ctx, w, t, cfg, opts...)
	if err != nil {
		return ef, err
	}
	return ef, ef.Enroll(ctx)
}

// Draw is the first half of Enroll: it asks the target how devices
// enroll, draws the fleet and reads the enrollment profile, without
// enrolling a device. The fleet is nil when it could not be drawn.
func Draw(ctx context.Context, w *World, t Target, cfg fleet.Config, opts ...simulator.Option) (*EnrolledFleet, error) {
	enr, err := t.Enrollment(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: enrollment: %w", t.Name(), err)
	}
	base := []simulator.Option{simulator.WithClock(w.Clock), simulator.WithPushService(w.APNs),
		simulator.WithEvents(w.Observer.OnEvent), simulator.WithRootCAs(enr.Roots...)}
	if enr.PollInterval > 0 {
		base = append(base, simulator.WithPollInterval(enr.PollInterval))
	}
	if cfg.Start.IsZero() {
		cfg.Start = w.Clock.Now()
	}
	f, err := fleet.NewContext(ctx, cfg, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	ef := &EnrolledFleet{Fleet: f, Polling: enr.PollInterval > 0, target: t, mint: enr.Identities}
	if ef.profile, err = enr.ReadProfile(ctx, f.Env()); err != nil {
		return ef, fmt.Errorf("%s: %w", t.Name(), err)
	}
	return ef, nil
}

// Enroll is the second half of the package's Enroll: it enrolls the
// devices Draw drew that are not enrolled yet, and counts them.
func (ef *EnrolledFleet) Enroll(ctx context.Context) error {
	if ef.profile == nil {
		return fmt.Errorf("%s: the fleet has no enrollment profile", ef.target.Name())
	}
	n, err := ef.Fleet.Enroll(ctx, ef.profile, ef.mint)
	ef.Enrolled += n
	return err
}

// ReadProfile returns the enrollment profile, parsed: the bytes given, or
// what ProfileURL serves, fetched as env's devices fetch it.
func (e Enrollment) ReadProfile(ctx context.Context, env *simulator.Env) (*protocol.EnrollmentProfile, error) {
	var (
		p   *protocol.EnrollmentProfile
		err error
	)
	if len(e.Profile) > 0 {
		p, err = protocol.ParseProfile(e.Profile)
	} else {
		p, err = env.FetchProfile(ctx, e.ProfileURL)
	}
	if err != nil {
		return nil, fmt.Errorf("enrollment profile: %w", err)
	}
	return p, nil
}
