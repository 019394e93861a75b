package simulator

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// A device's persisted state: what a fleet writes to its state file
// (fleet/store) as it changes, and what a resumed run puts back. It is the
// device's identity, its enrollment and the parts of its history that
// outlive a restart of the simulator, with the update in progress and its
// pending timers (UpdateJobState); its other timers do not (for those, a
// resumed device is one that was switched off and on: see Restore).

// StateSink is told when a device's persisted state changes. Both methods
// are called without the device's lock held.
type StateSink interface {
	// Changed marks the device for the next write; it must be quick and
	// safe for concurrent use (it runs at the end of every session and
	// every run of a device's timers).
	Changed(d *Device)
	// Enrolled returns once the device's new enrollment is durable. The
	// device reports itself enrolled (EventEnrolled) only after it
	// returns nil, so a run never counts an enrollment its file lacks.
	Enrolled(d *Device) error
}

// WithStateSink makes every device of the Env report its changes to s.
func WithStateSink(s StateSink) Option { return func(e *Env) { e.stateSink = s } }

// DeviceState is the persisted state of a device.
type DeviceState struct {
	// Identity is the device's identity now (its OS version and build
	// follow its installs).
	Identity identity.Identity
	// Enrollment is nil when the device is not enrolled.
	Enrollment *EnrollmentState
	Stats      Stats
	Restarts   int
	// RNG is the state of the device's random source, so a resumed device
	// goes on drawing what it would have drawn.
	RNG []byte
	// Escrowed says the device sent SetBootstrapToken.
	Escrowed bool
	// History is the device's installs, oldest first.
	History []UpdateRecord
	// DDM is set when a DeclarativeManagement command enabled declarative
	// management for the enrollment.
	DDM *DDMSavedState
	// Update is the update in progress, nil when none.
	Update *UpdateJobState
}

// DDMSavedState is what a device keeps of its DDM client (ddm_state.go):
// the DeclarationsToken of its last sync, its counters, the declarations
// it holds, what it last reported and its enforcement's history.
// Declarations are shared pointers; a store keeps each distinct one once
// and records their keys, so the field is not part of the JSON.
type DDMSavedState struct {
	Token string
	Stats DDMStats
	// Synced says Token is that of a complete sync; false in a state
	// saved without declarations, which syncs again on restore.
	Synced bool `json:",omitempty"`
	// SyncAt is when the safety sync was due.
	SyncAt         time.Time
	Declarations   []*SavedDeclaration    `json:"-"`
	Reported       map[string]uint64      `json:",omitempty"`
	ReportedErrors []string               `json:",omitempty"`
	Enforcement    *EnforcementSavedState `json:",omitempty"`
}

// EnrollmentState is a device's MDM enrollment.
type EnrollmentState struct {
	// Profile is shared by every device of a fleet enrolled from the same
	// profile (the same pointer), so a store keeps it once.
	Profile    *ProfileState
	Credential *protocol.Credential
	Token      [32]byte
	// MagicHi and MagicLo are the push magic's two halves.
	MagicHi, MagicLo uint64
}

// ProfileState is what an enrollment profile tells a device.
type ProfileState struct {
	ServerURL, CheckInURL, Topic    string
	MutualTLS                       bool
	AccessRights                    int
	CheckOut                        bool
	ProfileID, ProfileUUID, MDMUUID string
	Anchors                         [][]byte
	BootstrapToken                  bool
}

// profileStates maps restored ProfileStates to the settings made of them,
// so the devices of one saved profile share one again. The other way
// (profileSettings.saved) needs no map.
type profileStates struct {
	mu       sync.Mutex
	settings map[*ProfileState]*profileSettings
}

// profileState is the saved form of a profile's shared settings, made once
// per profile: every device enrolled with it shares it.
func (e *Env) profileState(ps *profileSettings) *ProfileState {
	if s := ps.saved.Load(); s != nil {
		return s
	}
	s := &ProfileState{
		ServerURL: ps.serverURL, CheckInURL: ps.checkInURL, Topic: ps.topic, MutualTLS: ps.mode == protocol.MutualTLS,
		AccessRights: ps.accessRights, CheckOut: ps.checkOut, ProfileID: ps.profileID, ProfileUUID: ps.profileUUID,
		MDMUUID: ps.mdmUUID, Anchors: ps.anchors, BootstrapToken: ps.bootstrapToken,
	}
	if !ps.saved.CompareAndSwap(nil, s) {
		return ps.saved.Load()
	}
	return s
}

func (e *Env) settingsOf(s *ProfileState) *profileSettings {
	e.states.mu.Lock()
	defer e.states.mu.Unlock()
	if ps, ok := e.states.settings[s]; ok {
		return ps
	}
	mode := protocol.MdmSignature
	if s.MutualTLS {
		mode = protocol.MutualTLS
	}
	ps := &profileSettings{
		serverURL: s.ServerURL, checkInURL: s.CheckInURL, topic: s.Topic, mode: mode, accessRights: s.AccessRights,
		checkOut: s.CheckOut, profileID: s.ProfileID, profileUUID: s.ProfileUUID, mdmUUID: s.MDMUUID,
		anchors: s.Anchors, bootstrapToken: s.BootstrapToken,
		transport: e.transportFor(&protocol.EnrollmentProfile{Certificates: s.Anchors}),
	}
	ps.saved.Store(s)
	if e.states.settings == nil {
		e.states.settings = map[*ProfileState]*profileSettings{}
	}
	e.states.settings[s] = ps
	return ps
}

// State returns the device's persisted state.
func (d *Device) State() (DeviceState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rng, err := d.pcg.MarshalBinary()
	if err != nil {
		return DeviceState{}, fmt.Errorf("simulator: state of %s: %w", d.id.UDID, err)
	}
	st := DeviceState{Identity: d.id, Stats: d.statsLocked(), Restarts: int(d.restarts), RNG: rng, Escrowed: d.sw.escrowed}
	if d.sw.more != nil && len(d.sw.more.history) > 0 {
		st.History = append([]UpdateRecord(nil), d.sw.more.history...)
	}
	st.Update = d.saveJobLocked()
	if dd := d.ddm; dd != nil && dd.enr == d.enr && d.enr != nil {
		st.DDM = d.saveDDMLocked(dd)
	}
	if e := d.enr; e != nil {
		st.Enrollment = &EnrollmentState{Profile: d.env.profileState(e.profileSettings), Credential: e.identity,
			Token: e.token, MagicHi: e.magicHi, MagicLo: e.magicLo}
	}
	return st, nil
}

// Errors of Restore.
var (
	ErrRestoreMismatch = errors.New("simulator: restore: the saved state is another device's")
	ErrRestoreBusy     = errors.New("simulator: restore: the device has already enrolled or run")
)

// Restore puts a saved state back on a device that has done nothing yet
// (drawn from the same seed: the UDIDs must match). An enrolled device
// comes back enrolled with its credential, push token and magic, registered
// for pushes and polling as after its enrollment. An update in progress
// goes on: its timers are re-armed for the time that remained at the saved
// virtual time, and a step that fell due in between runs at once. Other
// timers it had pending are not restored: for them it is a device switched
// off and on, which next hears of its server with a push or its own poll.
func (d *Device) Restore(st DeviceState) error {
	var evaluate bool
	enr, err := d.restoreLocked(st, &evaluate)
	if err != nil {
		return err
	}
	if evaluate {
		d.evaluateRestoredDDM()
	}
	if enr != nil && d.env.push != nil {
		d.env.push.RegisterDevice(enr.token[:], enr.topic, enr.pushMagic(), d.Wake)
	}
	return nil
}

func (d *Device) restoreLocked(st DeviceState, evaluate *bool) (*enrollment, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st.Identity.UDID != d.id.UDID {
		return nil, fmt.Errorf("%w: have %s, saved %s", ErrRestoreMismatch, d.id.UDID, st.Identity.UDID)
	}
	if d.enr != nil || d.active || d.busy {
		return nil, fmt.Errorf("%w: %s", ErrRestoreBusy, d.id.UDID)
	}
	if st.Identity.Model == nil {
		return nil, fmt.Errorf("simulator: restore %s: the saved identity has no model", d.id.UDID)
	}
	if es := st.Enrollment; es != nil && (es.Profile == nil || es.Credential == nil) {
		return nil, fmt.Errorf("simulator: restore %s: enrollment without profile or credential", d.id.UDID)
	}
	if len(st.RNG) > 0 {
		if err := d.pcg.UnmarshalBinary(st.RNG); err != nil {
			return nil, fmt.Errorf("simulator: restore %s: random source: %w", d.id.UDID, err)
		}
	}
	d.id = st.Identity
	s := st.Stats
	d.stats = counters{Sessions: uint32(s.Sessions), Commands: uint32(s.Commands), Acknowledged: uint32(s.Acknowledged),
		Errors: uint32(s.Errors), NotNow: uint32(s.NotNow), FormatErrors: uint32(s.FormatErrors),
		SessionErrors: uint32(s.SessionErrors), Pushes: uint32(s.Pushes)}
	d.restarts = uint32(st.Restarts)
	d.sw.escrowed = st.Escrowed
	if len(st.History) > 0 {
		h := st.History
		if len(h) > maxHistory {
			h = h[len(h)-maxHistory:]
		}
		d.sw.grow().history = append([]UpdateRecord(nil), h...)
	}
	if st.Update != nil {
		if err := d.restoreJobLocked(st.Update); err != nil {
			return nil, fmt.Errorf("simulator: restore %s: %w", d.id.UDID, err)
		}
	}
	if es := st.Enrollment; es != nil {
		enr := &enrollment{profileSettings: d.env.settingsOf(es.Profile), identity: es.Credential,
			token: es.Token, magicHi: es.MagicHi, magicLo: es.MagicLo}
		d.enr = enr
		d.startPollingLocked(enr)
		if st.DDM != nil {
			eval, err := d.restoreDDMLocked(st.DDM)
			if err != nil {
				return nil, fmt.Errorf("simulator: restore %s: %w", d.id.UDID, err)
			}
			*evaluate = eval
		}
		return enr, nil
	}
	return nil, nil
}

// ddmResumeSyncMax bounds when a restored DDM client without its
// declarations syncs: within this much device time after the resume,
// drawn from the device's seed, so a resumed fleet does not sync in one
// burst. The value is the simulator's; Apple documents no sync at
// start-up beyond the 24-hour safety sync.
const ddmResumeSyncMax = 10 * time.Minute

// changed tells the Env's sink, if any, that the device's state changed.
func (d *Device) changed() {
	if s := d.env.stateSink; s != nil {
		s.Changed(d)
	}
}
