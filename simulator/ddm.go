package simulator

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// Declarative device management (DDM), the device side.
//
// A DeclarativeManagement command enables DDM on the device the first time
// and triggers a sync every time. A sync asks the server for its tokens
// (unless the command carried them in Data); when the DeclarationsToken
// differs from the device's, it fetches declaration-items and then each
// declaration whose ServerToken changed, from declaration/<kind>/<id>.
// Declarations missing from the items, or answered with 404, are removed.
// The device then evaluates activations (predicates included), applies
// configurations through their types' handlers, and PUTs a status report
// with every status item whose value changed: management.declarations and
// management.client-capabilities always, the others when a status
// subscription names them. Every 24 hours of device time it runs a safety
// sync that ends with a FullReport. Between those, whoever changes what a
// status item reports (the update engine, a configuration handler) calls
// DDMStatusChanged.
//
// The sync runs inside the command's handler, so the DeclarativeManagement
// check-ins reach the server before the command's Acknowledged; every step
// is synchronous, so on a manual clock a test sees each exchange in order.

// DDMSafetySyncInterval is how often an enabled device syncs on its own
// and sends a full status report.
const DDMSafetySyncInterval = 24 * time.Hour

// DDM limits: a server's answers beyond them are refused.
const ddmBackgroundTimeout = 2 * time.Minute

// RequestTypeDeclarativeManagement is the MDM command that enables and
// syncs DDM.
const RequestTypeDeclarativeManagement = "DeclarativeManagement"

// ErrDDMDisabled is returned by DDM methods of a device on which no
// DeclarativeManagement command has enabled declarative management.
var ErrDDMDisabled = errors.New("simulator: declarative management is not enabled")

// DDMStats counts a device's declarative management traffic.
type DDMStats struct {
	Syncs        int // syncs run (command, safety sync, DDMSync)
	SyncErrors   int // syncs that could not complete
	Fetched      int // declaration/<kind>/<id> requests
	Removed      int // declarations removed (absent from items or 404)
	Reports      int // status reports sent
	FullReports  int
	ReportErrors int // status reports the server refused or that failed
	Rejected     int // server answers refused as malformed
}

// DeclarationState is a declaration as the device holds it, with its
// status as management.declarations reports it.
type DeclarationState struct {
	ddm.Declaration
	Kind    string
	Active  bool
	Valid   string // valid, invalid or unknown
	Reasons []ddm.StatusReason
}

// ddmState is a device's DDM client. It exists only on devices a
// DeclarativeManagement command has enabled.
type ddmState struct {
	types *DDMTypes
	enr   *enrollment // DDM belongs to the enrollment that enabled it

	// op serialises syncs, evaluations and reports; it is held across the
	// network exchanges, and taken before d.mu, never while holding it.
	op sync.Mutex

	// Guarded by the device's mu.
	token          string // DeclarationsToken of the last complete sync
	synced         bool
	decls          map[string]*ddmDecl
	subscribed     []string
	applied        map[string]string // declaration type → what Apply last saw
	rejected       map[string][]ddm.StatusReason
	reported       map[string]uint64 // status item → hash of the JSON last reported
	reportedErrors map[string]bool
	timer          clock.Timer
	stats          DDMStats
}

// parsedDecl is a declaration as read from the server, with what the
// device concludes from its bytes alone. It is immutable: every device of
// a registry that received the same bytes for the same item shares one.
type parsedDecl struct {
	decl      ddm.Declaration
	kind      string // the list of declaration-items it came from
	itemToken string // its ServerToken in declaration-items
	static    []ddm.StatusReason
	pred      ddm.Predicate
	// saved is the item and bytes it was parsed from, what a device's
	// state keeps of it (shared as the parse is).
	saved *SavedDeclaration
}

// ddmDecl is one declaration a device holds, with the results of the
// device's last evaluation.
type ddmDecl struct {
	*parsedDecl
	valid   string
	active  bool
	reasons []ddm.StatusReason
}

// sortedDecls orders declarations by kind and identifier: the order of
// reports and of handlers' input. The caller holds the device's mu.
func (st *ddmState) sortedDecls() []*ddmDecl {
	out := slices.Collect(maps.Values(st.decls))
	slices.SortFunc(out, func(a, b *ddmDecl) int {
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		return strings.Compare(a.decl.Identifier, b.decl.Identifier)
	})
	return out
}

// DeclarativeManagementHandler answers the DeclarativeManagement command
// with types as what the device's client knows. DefaultHandlers registers
// it with DefaultDDMTypes; register another to extend the types.
func DeclarativeManagementHandler(types *DDMTypes) Handler {
	if types == nil {
		panic("simulator: DeclarativeManagementHandler with nil types")
	}
	return Handler{
		Handle: func(ctx context.Context, d *Device, cmd *protocol.Command) *protocol.Result {
			return d.handleDeclarativeManagement(ctx, types, cmd)
		},
		Available: DDMAvailable,
		ddmTypes:  types,
	}
}

// DDMAvailable reports whether the device's OS has declarative device
// management: iOS and iPadOS 15, macOS 13.
func DDMAvailable(id identity.Identity) bool {
	if id.IsMac() {
		return ddm.CompareVersions(id.OSVersion, "13.0") >= 0
	}
	return ddm.CompareVersions(id.OSVersion, "15.0") >= 0
}

func (d *Device) handleDeclarativeManagement(ctx context.Context, types *DDMTypes, cmd *protocol.Command) *protocol.Result {
	p, err := protocol.DecodePayload[struct {
		Data []byte `plist:"Data"`
	}](cmd)
	if err != nil {
		return FormatError(cmd.CommandUUID, err)
	}
	var tokens *ddm.SyncTokens
	if len(p.Data) > 0 {
		if tokens, err = ddm.ParseTokens(p.Data); err != nil {
			d.env.logger.Warn("DDM: DeclarativeManagement command with unreadable Data", "udid", d.UDID(), "err", err)
			d.ddmCountRejected()
			return FormatError(cmd.CommandUUID, err)
		}
	}
	st := d.ddmEnable(types)
	st.op.Lock()
	err = d.ddmSync(ctx, st, tokens, false)
	st.op.Unlock()
	if err != nil {
		// The command itself was fine: the device acknowledges it and
		// retries the sync at the next command or safety sync.
		d.env.logger.Info("DDM: sync", "udid", d.UDID(), "err", err)
	}
	return nil
}

// ddmEnable returns the device's DDM client, creating it on first use (or
// when the device enrolled again since) and arming its safety sync.
func (d *Device) ddmEnable(types *DDMTypes) *ddmState {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.ddm; st != nil && st.enr == d.enr {
		return st
	}
	if d.ddm != nil && d.ddm.timer != nil {
		d.ddm.timer.Stop()
	}
	st := &ddmState{types: types, enr: d.enr, decls: map[string]*ddmDecl{}, applied: map[string]string{},
		rejected: map[string][]ddm.StatusReason{}, reported: map[string]uint64{}, reportedErrors: map[string]bool{}}
	d.ddm = st
	d.armSafetySyncLocked(st, DDMSafetySyncInterval)
	return st
}

// armSafetySyncLocked arms st's safety sync after dur; d.mu is held.
func (d *Device) armSafetySyncLocked(st *ddmState, dur time.Duration) {
	st.timer = d.after(dur, func() { d.ddmSafetySync(st) })
}

// ddmCurrent returns the DDM client if it is enabled for the current
// enrollment; a client left from an earlier enrollment is dropped.
func (d *Device) ddmCurrent() *ddmState {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.ddm
	if st == nil {
		return nil
	}
	if st.enr != d.enr {
		if st.timer != nil {
			st.timer.Stop()
		}
		d.ddm = nil
		return nil
	}
	return st
}

func (d *Device) ddmTypes() *DDMTypes {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ddm == nil {
		return nil
	}
	return d.ddm.types
}

func (d *Device) ddmCountRejected() {
	d.mu.Lock()
	if d.ddm != nil {
		d.ddm.stats.Rejected++
	}
	d.mu.Unlock()
}

// ddmSafetySync is the 24-hour timer: sync, then a full report. A device
// that is off skips it; one that unenrolled drops its DDM client.
func (d *Device) ddmSafetySync(st *ddmState) {
	d.mu.Lock()
	if d.ddm != st {
		d.mu.Unlock()
		return
	}
	if d.enr != st.enr {
		d.ddm = nil
		d.mu.Unlock()
		return
	}
	off := d.unreachableLocked()
	d.armSafetySyncLocked(st, DDMSafetySyncInterval)
	d.mu.Unlock()
	if off {
		return
	}
	ctx, cancel := context.WithTimeout(d.env.ctx, ddmBackgroundTimeout)
	defer cancel()
	st.op.Lock()
	err := d.ddmSync(ctx, st, nil, true)
	st.op.Unlock()
	if err != nil {
		d.env.logger.Info("DDM: safety sync", "udid", d.UDID(), "err", err)
	}
	// The daily software-update check of automatic updates (ddm_settings.go).
	d.withLock(d.autoUpdateLocked)
}

// DDMEnabled reports whether a DeclarativeManagement command has enabled
// declarative management on the device (for its current enrollment).
func (d *Device) DDMEnabled() bool { return d.ddmCurrent() != nil }

// DDMSync synchronises now, as a DeclarativeManagement command without
// Data does.
func (d *Device) DDMSync(ctx context.Context) error {
	st := d.ddmCurrent()
	if st == nil {
		return ErrDDMDisabled
	}
	st.op.Lock()
	defer st.op.Unlock()
	return d.ddmSync(ctx, st, nil, false)
}

// DDMStatusChanged tells the device that something its status items report
// may have changed (its OS after an update, an install state): it
// re-evaluates activations and configurations and reports the status items
// whose values changed, if any. It does nothing on a device without DDM.
func (d *Device) DDMStatusChanged(ctx context.Context) error {
	st := d.ddmCurrent()
	if st == nil {
		return nil
	}
	st.op.Lock()
	defer st.op.Unlock()
	enr, err := d.enrollmentSnapshot()
	if err != nil {
		return err
	}
	d.ddmEvaluate(ctx, st)
	return d.ddmReport(ctx, st, enr, false)
}

// DDMDeclarations returns the declarations the device holds, sorted by
// kind and identifier.
func (d *Device) DDMDeclarations() []DeclarationState {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ddm == nil {
		return nil
	}
	var out []DeclarationState
	for _, dd := range d.ddm.sortedDecls() {
		out = append(out, DeclarationState{Declaration: dd.decl.Clone(), Kind: dd.kind, Active: dd.active,
			Valid: dd.valid, Reasons: slices.Clone(dd.reasons)})
	}
	return out
}

// DDMActiveConfigurations returns the active configurations of one type,
// sorted by identifier: what the legacy update commands consult to know
// whether an enforcement declaration is in force.
func (d *Device) DDMActiveConfigurations(declarationType string) []ddm.Declaration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ddm == nil {
		return nil
	}
	var out []ddm.Declaration
	for _, dd := range d.ddm.sortedDecls() {
		if dd.active && dd.kind == ddm.KindConfiguration && dd.decl.Type == declarationType {
			out = append(out, dd.decl.Clone())
		}
	}
	return out
}

// ddmActiveLocked reports whether a configuration of the type is active,
// for code that already holds d.mu (the legacy update commands answer
// differently while an enforcement declaration is in force).
func (d *Device) ddmActiveLocked(declarationType string) bool {
	if d.ddm == nil || d.ddm.enr != d.enr {
		return false
	}
	for _, dd := range d.ddm.decls {
		if dd.active && dd.kind == ddm.KindConfiguration && dd.decl.Type == declarationType {
			return true
		}
	}
	return false
}

// DDMSubscriptions returns the status items the server subscribed to.
func (d *Device) DDMSubscriptions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ddm == nil {
		return nil
	}
	return slices.Clone(d.ddm.subscribed)
}

// DDMStats returns the device's DDM counters.
func (d *Device) DDMStats() DDMStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ddm == nil {
		return DDMStats{}
	}
	return d.ddm.stats
}
