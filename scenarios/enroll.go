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
}

// Enroll draws the fleet cfg describes on the world's clock, with the
// world's APNs and Observer, and enrolls it in the target with the trust
// the target gives for all of a device's TLS (profile, SCEP, check-ins).
// It returns the fleet with the error of the first device that failed.
func Enroll(ctx context.Context, w *World, t Target, cfg fleet.Config, opts ...simulator.Option) (*EnrolledFleet, error) {
	enr, err := t.Enrollment(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: enrollment: %w", t.Name(), err)
	}
	base := []simulator.Option{simulator.WithClock(w.Clock), simulator.WithPushService(w.APNs),
		simulator.WithEvents(w.Observer.OnEvent), simulator.WithRootCAs(enr.Roots...)}
	if enr.PollInterval > 0 {
		base = append(base, simulator.WithPollInterval(enr.PollInterval))
	}
	f, err := fleet.New(cfg, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	ef := &EnrolledFleet{Fleet: f, Polling: enr.PollInterval > 0}
	var profile *protocol.EnrollmentProfile
	if len(enr.Profile) > 0 {
		profile, err = protocol.ParseProfile(enr.Profile)
	} else {
		profile, err = f.Env().FetchProfile(ctx, enr.ProfileURL)
	}
	if err != nil {
		return ef, fmt.Errorf("%s: enrollment profile: %w", t.Name(), err)
	}
	ef.Enrolled, err = f.Enroll(ctx, profile, enr.Identities)
	return ef, err
}
