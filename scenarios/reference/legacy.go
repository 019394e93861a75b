package reference

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Enforcer is the reference legacy update enforcer: the flow Apple's MDM
// protocol offered before declarative management, as the field runs it.
//
//  1. DeviceInformation: who the device is, what it runs.
//  2. ScheduleOSUpdateScan (macOS), a wait, AvailableOSUpdates: what it may
//     install. The target is the newest minor update on a Mac (a major
//     upgrade only when there is no minor one) and the one update iOS lists.
//  3. ScheduleOSUpdate with an action: InstallLater with MaxUserDeferrals
//     for a minor macOS update, InstallASAP for a major upgrade or a security
//     response, Default on iOS (sent again to install once downloaded).
//  4. OSUpdateStatus polling, quick while the update moves and slow while it
//     waits on the user, with ScheduleOSUpdate sent again when nothing moves.
//  5. Success only when DeviceInformation reports the target version.
//
// It drives any server through its command channel (scenarios.Commands)
// and reads the answers on the devices' side (scenarios.Observer). A
// NotNow is not the end: the server keeps the command, and the enforcer
// pushes the device again later so it asks for it. Every wait is on the
// Enforcer's clock, so a week of enforcement runs in seconds on a scaled
// clock. It is the example a server developer compares their own logic with;
// the reasons it gives for a device it could not update are what it can see
// from the server.
type Enforcer struct {
	work   *clock.Work
	cmds   scenarios.Commands
	obs    *scenarios.Observer
	tokens scenarios.BootstrapTokens // nil: the server cannot say
	cfg    EnforcerConfig
	// finished and compliant count devices as Run settles them.
	finished, compliant atomic.Int64
}

// Progress reports, while Run runs, how many devices it has settled and
// how many of those are compliant.
func (e *Enforcer) Progress() (finished, compliant int) {
	return int(e.finished.Load()), int(e.compliant.Load())
}

// EnforcerConfig tunes an Enforcer; zero fields take the defaults.
type EnforcerConfig struct {
	// Clock times every wait; devices' timers must run on the same clock.
	Clock clock.Clock
	// Deadline is how long to try one device before reporting it.
	Deadline time.Duration
	// PollInterval is the OSUpdateStatus period while an update downloads
	// or installs; IdlePollInterval while it waits on someone.
	PollInterval     time.Duration
	IdlePollInterval time.Duration
	// ScanWait is the pause between ScheduleOSUpdateScan and
	// AvailableOSUpdates (Jamf waits five minutes).
	ScanWait time.Duration
	// NotNowRetry is how long after a NotNow the device is pushed again.
	NotNowRetry time.Duration
	// Renudge sends ScheduleOSUpdate again when an update has not moved for
	// this long; RetryAfterError is the wait after an UpdateResults error.
	Renudge         time.Duration
	RetryAfterError time.Duration
	// Repush pushes the device again when a command has had no answer for
	// this long: APNs drops pushes, and a device that missed one never asks.
	Repush time.Duration
	// MaxUserDeferrals goes with InstallLater.
	MaxUserDeferrals int
	// EscalateAfter, if set, switches to InstallForceRestart (macOS) or
	// InstallASAP (iOS) once a device has had this long.
	EscalateAfter time.Duration
	// Mutant, for the conformance self-test only, makes a mistake.
	Mutant Mutant
	// Started, if set, is called once Run holds its units of clock work:
	// a caller that kept virtual time still until Run began gives its own
	// unit back there, leaving no instant where time could run on.
	Started func()
}

// Defaults of EnforcerConfig.
const (
	DefaultEnforceDeadline         = 7 * 24 * time.Hour
	DefaultEnforcePollInterval     = 15 * time.Minute
	DefaultEnforceIdlePollInterval = 6 * time.Hour
	DefaultEnforceScanWait         = 5 * time.Minute
	DefaultEnforceNotNowRetry      = time.Hour
	DefaultEnforceRenudge          = 24 * time.Hour
	DefaultEnforceRetryAfterError  = 24 * time.Hour
	DefaultEnforceRepush           = time.Hour
	DefaultEnforceMaxUserDeferrals = 3
)

// Reasons the Enforcer gives for a device it could not update.
const (
	ReasonNotSupervised        = "not-supervised"
	ReasonCommandsUnsupported  = "commands-unsupported"
	ReasonScanFailed           = "scan-failed"
	ReasonCommandError         = "command-error"
	ReasonUnreachable          = "unreachable"
	ReasonNotNow               = "not-now"
	ReasonUserIgnoredDeferrals = "user-ignored-deferrals"
	ReasonUserDeferring        = "user-deferring"
	ReasonNoBootstrapToken     = "no-bootstrap-token"
	ReasonAwaitingUser         = "awaiting-user"
	ReasonInsufficientSpace    = "insufficient-space"
	ReasonInsufficientPower    = "insufficient-power"
	ReasonInsufficientNetwork  = "insufficient-network"
	ReasonRequiresComputer     = "requires-computer"
	ReasonPhoneCall            = "phone-call"
	ReasonUpdateFailed         = "update-failed"
	ReasonScheduleError        = "schedule-error"
	ReasonStalled              = "stalled"
	ReasonNotStarted           = "update-not-started"
	ReasonWrongVersion         = "wrong-version"
	// ReasonInterrupted: the run was stopped (Ctrl-C, a timeout) before
	// the device's enforcement ended.
	ReasonInterrupted = "interrupted"
)

// statusReasons maps UpdateResults statuses that stop an update.
var statusReasons = map[string]string{
	"DownloadInsufficientSpace":   ReasonInsufficientSpace,
	"InstallInsufficientSpace":    ReasonInsufficientSpace,
	"DownloadInsufficientPower":   ReasonInsufficientPower,
	"InstallInsufficientPower":    ReasonInsufficientPower,
	"DownloadInsufficientNetwork": ReasonInsufficientNetwork,
	"DownloadRequiresComputer":    ReasonRequiresComputer,
	"InstallPhoneCallInProgress":  ReasonPhoneCall,
	"DownloadFailed":              ReasonUpdateFailed,
	"InstallFailed":               ReasonUpdateFailed,
}

// Outcome is what enforcing one device came to.
type Outcome struct {
	UDID      string
	Platform  string // "macOS" or "iOS"
	From      string // OS version at the start
	Target    string // version (and build) aimed at; empty when up to date
	Action    string // the InstallAction sent
	Compliant bool
	// Reason says why a device is not compliant.
	Reason   string
	Commands int
	NotNow   int
	// Elapsed is the time spent on the device, on the Enforcer's clock.
	Elapsed time.Duration
}

// Report sums up outcomes.
type Report struct {
	Devices      int            `json:"devices"`
	Compliant    int            `json:"compliant"`
	Noncompliant int            `json:"noncompliant"`
	Reasons      map[string]int `json:"reasons"`
}

// Summarize counts outcomes; every non-compliant device is under a reason.
func Summarize(outcomes []Outcome) Report {
	r := Report{Devices: len(outcomes), Reasons: map[string]int{}}
	for _, o := range outcomes {
		if o.Compliant {
			r.Compliant++
			continue
		}
		r.Noncompliant++
		reason := o.Reason
		if reason == "" {
			reason = ReasonUnreachable
		}
		r.Reasons[reason]++
	}
	return r
}

// NewEnforcer returns an enforcer that sends commands through cmds and
// reads the answers from obs, which must watch the same devices.
func NewEnforcer(cmds scenarios.Commands, obs *scenarios.Observer, cfg EnforcerConfig) *Enforcer {
	if cmds == nil || obs == nil {
		panic("reference: NewEnforcer with a nil command channel or observer")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	def(&cfg.Deadline, DefaultEnforceDeadline)
	def(&cfg.PollInterval, DefaultEnforcePollInterval)
	def(&cfg.IdlePollInterval, DefaultEnforceIdlePollInterval)
	def(&cfg.ScanWait, DefaultEnforceScanWait)
	def(&cfg.NotNowRetry, DefaultEnforceNotNowRetry)
	def(&cfg.Renudge, DefaultEnforceRenudge)
	def(&cfg.RetryAfterError, DefaultEnforceRetryAfterError)
	def(&cfg.Repush, DefaultEnforceRepush)
	if cfg.MaxUserDeferrals <= 0 {
		cfg.MaxUserDeferrals = DefaultEnforceMaxUserDeferrals
	}
	// The enforcer is the server: at an instant where a device also acts,
	// it looks after the device has acted (clock.InPhase).
	cfg.Clock = clock.InPhase(cfg.Clock, 1)
	tokens, _ := cmds.(scenarios.BootstrapTokens)
	return &Enforcer{cmds: cmds, obs: obs, tokens: tokens, cfg: cfg, work: clock.NewWork(cfg.Clock, "enforcer")}
}

// Deadline is how long the enforcer tries one device.
func (e *Enforcer) Deadline() time.Duration { return e.cfg.Deadline }

// Run enforces every device at once and returns their outcomes in the order
// of udids.
//
// On a discrete-event clock virtual time starts, if it has not, once every
// device's enforcement holds its work: the story of each device begins at
// the same instant, whatever the load.
func (e *Enforcer) Run(ctx context.Context, udids []string) []Outcome {
	out := make([]Outcome, len(udids))
	var wg sync.WaitGroup
	for i, udid := range udids {
		wg.Add(1)
		e.work.Begin()
		go func() {
			defer wg.Done()
			defer e.work.End()
			out[i] = e.enforce1(ctx, udid)
			if ctx.Err() != nil && !out[i].Compliant {
				// Cut short: whatever it last saw is not a verdict.
				out[i].Reason = ReasonInterrupted
			}
			if out[i].Compliant {
				e.compliant.Add(1)
			}
			e.finished.Add(1)
		}()
	}
	if e.cfg.Started != nil {
		e.cfg.Started()
	}
	clock.Start(e.cfg.Clock)
	wg.Wait()
	return out
}

// device is what DeviceInformation tells the enforcer.
type device struct {
	OSVersion, BuildVersion, SupplementalBuildVersion string
	IsSupervised, IsAppleSilicon                      bool
	mac                                               bool
}

// update is one AvailableOSUpdates entry.
type update struct {
	ProductKey         string `plist:"ProductKey"`
	Version            string `plist:"Version"`
	Build              string `plist:"Build"`
	IsMajorOSUpdate    bool   `plist:"IsMajorOSUpdate"`
	IsSecurityResponse bool   `plist:"IsSecurityResponse"`
}

// status is one OSUpdateStatus entry.
type status struct {
	ProductKey         string `plist:"ProductKey"`
	IsDownloaded       bool   `plist:"IsDownloaded"`
	Status             string `plist:"Status"`
	MaxDeferrals       *int   `plist:"MaxDeferrals"`
	DeferralsRemaining *int   `plist:"DeferralsRemaining"`
}

func (s *status) String() string {
	if s == nil {
		return ""
	}
	str := fmt.Sprintf("%s %s downloaded=%v", s.ProductKey, s.Status, s.IsDownloaded)
	if s.DeferralsRemaining != nil {
		str += fmt.Sprintf(" deferrals=%d", *s.DeferralsRemaining)
	}
	return str
}

// errRefused is an Error or CommandFormatError answer; errUnknownCommand
// (wrapping it) is the 12021 of a device that does not know the command.
var (
	errRefused        = errors.New("reference: command refused")
	errUnknownCommand = fmt.Errorf("%w: not a valid request type", errRefused)
)

// Enforce brings one device to its target version, or says why it could
// not before the deadline.
func (e *Enforcer) Enforce(ctx context.Context, udid string) Outcome {
	e.work.Begin()
	defer e.work.End()
	return e.enforce1(ctx, udid)
}

// enforce1 is Enforce for a goroutine that holds a unit of e.work.
func (e *Enforcer) enforce1(ctx context.Context, udid string) (o Outcome) {
	o.UDID = udid
	start := e.cfg.Clock.Now()
	defer func() { o.Elapsed = e.cfg.Clock.Since(start) }()
	ctx = withEnd(ctx, start.Add(e.cfg.Deadline))

	// 1. Who is the device?
	dev, err := e.deviceInformation(ctx, &o)
	if err != nil {
		o.Reason = ReasonUnreachable
		return o
	}
	o.From, o.Platform = dev.OSVersion, "iOS"
	if dev.mac {
		o.Platform = "macOS"
	}
	if !dev.IsSupervised && e.cfg.Mutant != MutantPollsForever {
		o.Reason = ReasonNotSupervised
		return o
	}
	if majorOf(dev.OSVersion) >= 27 && e.cfg.Mutant != MutantLegacyTo27 {
		// The legacy update commands are gone in 27 (deprecated in 26):
		// such a device is for declarative management.
		o.Reason = ReasonCommandsUnsupported
		return o
	}

	// 2. What may it install?
	if dev.mac && e.cfg.Mutant != MutantNeverScans {
		_, err := e.send(ctx, &o, "ScheduleOSUpdateScan", map[string]any{"Force": true})
		if err != nil && e.cfg.Mutant == MutantLegacyTo27 && errors.Is(err, errRefused) {
			err = nil // "it will know it tomorrow"
		}
		if err != nil {
			o.Reason = e.failure(err, o.Reason)
			return o
		}
		if err := e.sleep(ctx, e.cfg.ScanWait); err != nil {
			o.Reason = ReasonUnreachable
			return o
		}
	}
	res, err := e.send(ctx, &o, "AvailableOSUpdates", nil)
	for err != nil && errors.Is(err, errRefused) && (!errors.Is(err, errUnknownCommand) || e.cfg.Mutant == MutantLegacyTo27) {
		// The device could not ask Apple: ask it again tomorrow.
		o.Reason = ReasonScanFailed
		if e.sleep(ctx, e.cfg.RetryAfterError) != nil {
			return o
		}
		res, err = e.send(ctx, &o, "AvailableOSUpdates", nil)
	}
	if err != nil {
		o.Reason = e.failure(err, o.Reason)
		return o
	}
	var avail struct {
		AvailableOSUpdates []update `plist:"AvailableOSUpdates"`
	}
	if err := plist.Unmarshal(res.Raw, &avail); err != nil {
		o.Reason = ReasonCommandError
		return o
	}
	target, ok := chooseTarget(dev, avail.AvailableOSUpdates)
	if !ok {
		o.Compliant = true // nothing newer to install
		return o
	}
	o.Target = target.Version + " (" + target.Build + ")"

	// 3. Schedule it, watch it, until the device runs it.
	e.enforce(ctx, dev, target, &o)
	return o
}

// chooseTarget picks the update to enforce.
func chooseTarget(dev device, items []update) (update, bool) {
	if len(items) == 0 {
		return update{}, false
	}
	if dev.mac {
		for _, u := range items {
			if !u.IsMajorOSUpdate && !u.IsSecurityResponse {
				return u, true
			}
		}
	}
	return items[0], true
}

// chooseAction picks the InstallAction for the target.
func (e *Enforcer) chooseAction(dev device, target update, escalate bool) map[string]any {
	item := map[string]any{"ProductKey": target.ProductKey}
	switch e.cfg.Mutant {
	case MutantASAPEverywhere:
		item["InstallAction"] = "InstallASAP"
		return item
	case MutantDeferralsWithoutInstallLater:
		if dev.mac && !target.IsMajorOSUpdate && !target.IsSecurityResponse && !escalate {
			item["InstallAction"] = "InstallASAP"
			item["MaxUserDeferrals"] = e.cfg.MaxUserDeferrals
			return item
		}
	}
	switch {
	case !dev.mac && escalate:
		item["InstallAction"] = "InstallASAP"
	case !dev.mac:
		item["InstallAction"] = "Default"
	case escalate && !target.IsMajorOSUpdate:
		item["InstallAction"] = "InstallForceRestart"
	case target.IsMajorOSUpdate || target.IsSecurityResponse:
		item["InstallAction"] = "InstallASAP"
	default:
		item["InstallAction"] = "InstallLater"
		item["MaxUserDeferrals"] = e.cfg.MaxUserDeferrals
	}
	return item
}

// enforce schedules the target and polls until the device reports it.
func (e *Enforcer) enforce(ctx context.Context, dev device, target update, o *Outcome) {
	start := e.cfg.Clock.Now()
	var (
		lastMove   = start // the last time the update got further
		lastState  string
		installing bool // iOS: the second Default has gone
		schedule   = true
	)
	for {
		escalate := e.cfg.EscalateAfter > 0 && e.cfg.Clock.Since(start) >= e.cfg.EscalateAfter
		if schedule {
			schedule = false
			item := e.chooseAction(dev, target, escalate)
			o.Action = item["InstallAction"].(string)
			reason, err := e.schedule(ctx, o, item)
			if err != nil && e.cfg.Mutant == MutantPollsForever && errors.Is(err, errRefused) {
				reason, err = ReasonScheduleError, nil
			}
			if err != nil {
				o.Reason = e.failure(err, o.Reason)
				return
			}
			if reason != "" {
				// The device refused for a reason that will not pass by
				// itself soon: try again a day later.
				o.Reason = reason
				retry := e.cfg.RetryAfterError
				if e.cfg.Mutant == MutantPollsForever {
					retry = e.cfg.PollInterval
				}
				if e.sleep(ctx, retry) != nil {
					return
				}
				schedule = true
				continue
			}
			lastMove = e.cfg.Clock.Now()
		}

		st, err := e.osUpdateStatus(ctx, o, target.ProductKey)
		if err != nil {
			o.Reason = e.failure(err, o.Reason)
			return
		}
		wait := e.cfg.PollInterval
		switch {
		case st == nil:
			// Nothing in progress: done, or the update went away.
			ok, err := e.reached(ctx, o, target)
			if err != nil {
				o.Reason = e.failure(err, o.Reason)
				return
			}
			if ok {
				o.Compliant, o.Reason = true, ""
				return
			}
			if lastState != "" || e.cfg.Clock.Since(lastMove) >= e.cfg.PollInterval*2 {
				// It was under way and is gone (a failed download), or it
				// never showed: schedule it again.
				o.Reason, schedule, installing, lastState = ReasonNotStarted, true, false, ""
			}
		case st.Status == "Idle" && st.IsDownloaded:
			if !dev.mac && !installing {
				// iOS installs on the second Default.
				installing, schedule = true, true
				break
			}
			o.Reason = e.waitingReason(ctx, o.UDID, dev, st)
			wait = e.cfg.IdlePollInterval
			if e.cfg.Mutant == MutantPollsForever {
				if e.sleep(ctx, e.cfg.PollInterval) != nil {
					return
				}
				schedule = true
			}
		case st.Status == "Downloading" || st.Status == "Installing":
			o.Reason = ReasonStalled
		default:
			o.Reason = ReasonNotStarted
		}
		state := st.String()
		if st != nil && state != lastState {
			lastState, lastMove = state, e.cfg.Clock.Now()
		}
		if st != nil && e.cfg.Clock.Since(lastMove) >= e.cfg.Renudge {
			schedule, lastMove = true, e.cfg.Clock.Now()
		}
		if e.cfg.EscalateAfter > 0 && !escalate && e.cfg.Clock.Since(start) >= e.cfg.EscalateAfter {
			schedule = true
		}
		if e.cfg.Mutant == MutantHammersSchedule && st != nil && !schedule {
			// Sent again before the next poll, as if it were a poll.
			if e.sleep(ctx, wait) != nil {
				return
			}
			schedule = true
			continue
		}
		if !schedule {
			if e.sleep(ctx, wait) != nil {
				return
			}
		}
	}
}

// waitingReason explains a downloaded update that waits.
func (e *Enforcer) waitingReason(ctx context.Context, udid string, dev device, st *status) string {
	if dev.mac && dev.IsAppleSilicon && e.tokens != nil && !e.tokens.BootstrapTokenEscrowed(ctx, udid) {
		return ReasonNoBootstrapToken
	}
	if st.MaxDeferrals != nil && st.DeferralsRemaining != nil {
		if *st.DeferralsRemaining >= *st.MaxDeferrals {
			return ReasonUserIgnoredDeferrals
		}
		return ReasonUserDeferring
	}
	return ReasonAwaitingUser
}

// schedule sends ScheduleOSUpdate and returns the reason an UpdateResults
// entry gives for not going ahead.
func (e *Enforcer) schedule(ctx context.Context, o *Outcome, item map[string]any) (string, error) {
	res, err := e.send(ctx, o, "ScheduleOSUpdate", map[string]any{"Updates": []any{item}})
	if err != nil {
		return "", err
	}
	var body struct {
		UpdateResults []struct {
			InstallAction string `plist:"InstallAction"`
			Status        string `plist:"Status"`
		} `plist:"UpdateResults"`
	}
	if err := plist.Unmarshal(res.Raw, &body); err != nil {
		return ReasonScheduleError, nil
	}
	// No UpdateResults: the device restarted into the update before it
	// could answer the first time; polling tells the rest.
	for _, r := range body.UpdateResults {
		if reason, ok := statusReasons[r.Status]; ok {
			return reason, nil
		}
		if r.InstallAction == "Error" {
			return ReasonScheduleError, nil
		}
	}
	return "", nil
}

func (e *Enforcer) osUpdateStatus(ctx context.Context, o *Outcome, key string) (*status, error) {
	res, err := e.send(ctx, o, "OSUpdateStatus", nil)
	if err != nil {
		return nil, err
	}
	var body struct {
		OSUpdateStatus []status `plist:"OSUpdateStatus"`
	}
	if err := plist.Unmarshal(res.Raw, &body); err != nil {
		return nil, fmt.Errorf("%w: OSUpdateStatus: %v", errRefused, err)
	}
	for _, s := range body.OSUpdateStatus {
		if s.ProductKey == key {
			return &s, nil
		}
	}
	if len(body.OSUpdateStatus) > 0 {
		return &body.OSUpdateStatus[0], nil
	}
	return nil, nil
}

// reached asks DeviceInformation whether the device runs the target.
func (e *Enforcer) reached(ctx context.Context, o *Outcome, target update) (bool, error) {
	dev, err := e.deviceInformation(ctx, o)
	if err != nil {
		return false, err
	}
	if target.IsSecurityResponse {
		return dev.SupplementalBuildVersion == target.Build, nil
	}
	if dev.OSVersion == target.Version && dev.BuildVersion == target.Build {
		return true, nil
	}
	if dev.OSVersion != o.From {
		o.Reason = ReasonWrongVersion
	}
	return false, nil
}

func (e *Enforcer) deviceInformation(ctx context.Context, o *Outcome) (device, error) {
	res, err := e.send(ctx, o, "DeviceInformation", map[string]any{"Queries": []string{
		"OSVersion", "BuildVersion", "SupplementalBuildVersion", "IsSupervised", "IsAppleSilicon", "ModelName",
	}})
	if err != nil {
		return device{}, err
	}
	var body struct {
		QueryResponses struct {
			OSVersion                string `plist:"OSVersion"`
			BuildVersion             string `plist:"BuildVersion"`
			SupplementalBuildVersion string `plist:"SupplementalBuildVersion"`
			IsSupervised             bool   `plist:"IsSupervised"`
			IsAppleSilicon           *bool  `plist:"IsAppleSilicon"`
		} `plist:"QueryResponses"`
	}
	if err := plist.Unmarshal(res.Raw, &body); err != nil {
		return device{}, fmt.Errorf("%w: DeviceInformation: %v", errRefused, err)
	}
	q := body.QueryResponses
	d := device{OSVersion: q.OSVersion, BuildVersion: q.BuildVersion, SupplementalBuildVersion: q.SupplementalBuildVersion,
		IsSupervised: q.IsSupervised, mac: q.IsAppleSilicon != nil}
	d.IsAppleSilicon = d.mac && *q.IsAppleSilicon
	return d, nil
}

// send queues a command for the device with a push and waits for its
// answer. After a NotNow it waits NotNowRetry and pushes again: the server
// still holds the command, the device does not.
func (e *Enforcer) send(ctx context.Context, o *Outcome, requestType string, payload map[string]any) (scenarios.Answer, error) {
	uuid := newUUID()
	o.Commands++
	e.obs.Expect(uuid)
	defer e.obs.Forget(uuid)
	if err := e.cmds.Enqueue(ctx, []string{o.UDID}, scenarios.Command{UUID: uuid, RequestType: requestType, Payload: payload}); err != nil {
		return scenarios.Answer{}, err
	}
	for n := 1; ; n++ {
		if err := e.waitResult(ctx, o.UDID, uuid, n); err != nil {
			return scenarios.Answer{}, err
		}
		r := e.obs.Answers(uuid)[n-1]
		switch r.Status {
		case protocol.StatusAcknowledged:
			return r, nil
		case protocol.StatusNotNow:
			o.NotNow++
			o.Reason = ReasonNotNow
			if e.cfg.Mutant == MutantGivesUpOnNotNow {
				return r, fmt.Errorf("%w: %s answered NotNow", errRefused, requestType)
			}
			if err := e.sleep(ctx, e.cfg.NotNowRetry); err != nil {
				return r, err
			}
			if len(e.obs.Answers(uuid)) > n || e.cfg.Mutant == MutantNeverRepushes {
				continue // the device asked again by itself
			}
			if err := e.cmds.Push(ctx, []string{o.UDID}); err != nil {
				return r, err
			}
		default:
			base := errRefused
			if len(r.ErrorChain) > 0 && r.ErrorChain[0].ErrorCode == protocol.CodeInvalidRequestType {
				base = errUnknownCommand
			}
			return r, fmt.Errorf("%w: %s answered %s %v", base, requestType, r.Status, r.ErrorChain)
		}
	}
}

// waitResult waits for the nth answer to a command, pushing the device
// again whenever Repush passes without one.
func (e *Enforcer) waitResult(ctx context.Context, udid, uuid string, n int) error {
	for {
		wait, err := e.left(ctx, e.cfg.Repush)
		if err != nil {
			return err
		}
		ok, err := e.obs.Await(ctx, uuid, n, e.work, e.cfg.Clock, wait)
		if ok || err != nil {
			return err
		}
		if _, err := e.left(ctx, e.cfg.Repush); err != nil {
			return err
		}
		if e.cfg.Mutant == MutantNeverRepushes {
			continue
		}
		if err := e.cmds.Push(ctx, []string{udid}); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// newUUID is a random command UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// errDeadline ends an enforcement whose deadline has passed.
var errDeadline = errors.New("reference: enforcement deadline passed")

type endKey struct{}

// withEnd gives an enforcement its deadline on the enforcer's clock. It
// travels with ctx, but is met by the waits themselves rather than by
// cancelling ctx: a context's cancellation reaches a waiting goroutine
// through the Go scheduler, where a discrete-event clock could move first.
func withEnd(ctx context.Context, end time.Time) context.Context {
	return context.WithValue(ctx, endKey{}, end)
}

// left returns how long of d may be waited before the deadline, and
// errDeadline once it has passed (ctx.Err() once ctx is done).
func (e *Enforcer) left(ctx context.Context, d time.Duration) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	end, ok := ctx.Value(endKey{}).(time.Time)
	if !ok {
		return d, nil
	}
	left := e.cfg.Clock.Until(end)
	if left <= 0 {
		return 0, errDeadline
	}
	return min(d, left), nil
}

// sleep waits d on the enforcer's clock, giving back the goroutine's unit
// of work meanwhile; it returns errDeadline, at the deadline, if that
// comes first.
func (e *Enforcer) sleep(ctx context.Context, d time.Duration) error {
	wait, err := e.left(ctx, d)
	if err != nil {
		return err
	}
	if err := e.work.Sleep(ctx, e.cfg.Clock, wait); err != nil {
		return err
	}
	if wait < d {
		return errDeadline
	}
	return nil
}

// failure turns an error into a reason, keeping the last one seen when the
// deadline ended the wait.
func (e *Enforcer) failure(err error, last string) string {
	switch {
	case errors.Is(err, errUnknownCommand):
		return ReasonCommandsUnsupported
	case errors.Is(err, errRefused):
		return ReasonCommandError
	case last != "":
		return last
	}
	return ReasonUnreachable
}

// SortReasons lists a report's reasons, most frequent first.
func (r Report) SortReasons() []string {
	out := make([]string, 0, len(r.Reasons))
	for k := range r.Reasons {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if r.Reasons[out[i]] != r.Reasons[out[j]] {
			return r.Reasons[out[i]] > r.Reasons[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
