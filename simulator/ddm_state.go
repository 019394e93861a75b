package simulator

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mdmsim/mdmsim/simulator/ddm"
)

// What a device keeps of its DDM client across a restart of the
// simulator: the tokens of its last sync, the declarations it holds (the
// bytes the server sent, shared among the devices that received the same),
// what it last reported and its enforcement's history. A restored client
// evaluates its declarations again on the device, so it reports what it
// reported before without asking the server, and syncs when the server's
// tokens change, as any enabled client does.

// SavedDeclaration is a declaration as the server sent it: the item that
// listed it and its bytes. Every device that received the same bytes for
// the same item holds the same *SavedDeclaration, so a store keeps each
// once (as it keeps profiles).
type SavedDeclaration struct {
	Kind      string `json:"kind"`
	ID        string `json:"id"`
	ItemToken string `json:"item_token"`
	Body      []byte `json:"body"`
}

// EnforcementSavedState is the history of a device's software-update
// enforcement that its status items report: the declaration it enforces
// and since when, its notifications, its failures and the reason of its
// last install. The rest (the release, the timers) is derived again from
// the declarations when the restored client evaluates them.
type EnforcementSavedState struct {
	// Accepted are the Identifier and ServerToken (NUL-separated) of the
	// declarations found above the OS when received.
	Accepted []string `json:"accepted,omitempty"`
	// CurID, CurToken and CurDeadline name the declaration enforced ("":
	// none).
	CurID            string         `json:"cur_id,omitempty"`
	CurToken         string         `json:"cur_token,omitempty"`
	CurDeadline      time.Time      `json:"cur_deadline"`
	Since            time.Time      `json:"since"`
	ForceAt          time.Time      `json:"force_at"`
	Missed           bool           `json:"missed,omitempty"`
	Forced           bool           `json:"forced,omitempty"`
	Unusable         bool           `json:"unusable,omitempty"`
	Countdown        time.Time      `json:"countdown"`
	Failed           bool           `json:"failed,omitempty"`
	WaitPower        bool           `json:"wait_power,omitempty"`
	Notifications    []time.Time    `json:"notifications,omitempty"`
	StepAt           time.Time      `json:"step_at"`
	NotificationsOff bool           `json:"notifications_off,omitempty"`
	FailCount        int            `json:"fail_count,omitempty"`
	FailReason       string         `json:"fail_reason,omitempty"`
	FailAt           time.Time      `json:"fail_at"`
	Reasons          []string       `json:"reasons,omitempty"`
	ReasonID         string         `json:"reason_id,omitempty"`
	Pending          map[string]any `json:"pending,omitempty"`
}

// saveDDMLocked returns the state of the device's DDM client; d.mu is
// held.
func (d *Device) saveDDMLocked(dd *ddmState) *DDMSavedState {
	s := &DDMSavedState{Token: dd.token, Stats: dd.stats, Synced: dd.synced}
	if dd.timer != nil {
		s.SyncAt = d.timerDueLocked(dd.timer)
	}
	if len(dd.decls) > 0 {
		s.Declarations = make([]*SavedDeclaration, 0, len(dd.decls))
		for _, x := range dd.sortedDecls() {
			if x.saved != nil {
				s.Declarations = append(s.Declarations, x.saved)
			}
		}
	}
	if len(dd.reported) > 0 {
		s.Reported = maps.Clone(dd.reported)
	}
	for name, ok := range dd.reportedErrors {
		if ok {
			s.ReportedErrors = append(s.ReportedErrors, name)
		}
	}
	slices.Sort(s.ReportedErrors)
	if e := d.sw.enforce; e != nil {
		es := &EnforcementSavedState{Since: e.since, ForceAt: e.forceAt, Missed: e.missed, Forced: e.forced,
			Unusable: e.unusable, Countdown: e.countdown, Failed: e.failed, WaitPower: e.waitPower,
			Notifications: slices.Clone(e.notifications), StepAt: e.stepAt, NotificationsOff: e.notificationsOff,
			FailCount: e.failCount, FailReason: e.failReason, FailAt: e.failAt, Reasons: slices.Clone(e.reasons),
			ReasonID: e.reasonID, Pending: maps.Clone(e.pending)}
		es.Accepted = slices.Sorted(maps.Keys(e.accepted))
		if e.cur != nil {
			es.CurID, es.CurToken, es.CurDeadline = e.cur.id, e.cur.token, e.cur.deadline
		}
		s.Enforcement = es
	}
	return s
}

// restoreDDMLocked re-enables the DDM client of a restored device with the
// types of the Env's DeclarativeManagement handler and the declarations it
// held; it reports true when they must be evaluated once d.mu is released
// (evaluateRestoredDDM). A state saved without its declarations (a state
// file of schema 1) syncs them again, with a full report, soon after the
// resume (as its safety sync does). d.mu is held.
func (d *Device) restoreDDMLocked(saved *DDMSavedState) (bool, error) {
	h, ok := d.env.handlers.lookup(RequestTypeDeclarativeManagement)
	if !ok || h.ddmTypes == nil {
		return false, nil
	}
	if len(saved.Declarations) > maxSavedDeclarations {
		return false, fmt.Errorf("DDM: %d declarations", len(saved.Declarations))
	}
	st := &ddmState{types: h.ddmTypes, enr: d.enr, decls: map[string]*ddmDecl{}, applied: map[string]string{},
		rejected: map[string][]ddm.StatusReason{}, reported: map[string]uint64{}, reportedErrors: map[string]bool{},
		stats: saved.Stats}
	if !saved.Synced {
		d.ddm = st
		d.armSafetySyncLocked(st, time.Duration(d.rng.Int64N(int64(ddmResumeSyncMax))))
		return false, nil
	}
	for _, sd := range saved.Declarations {
		if sd == nil || sd.ID == "" {
			return false, fmt.Errorf("DDM: a declaration without identifier")
		}
		if _, dup := st.decls[sd.ID]; dup {
			return false, fmt.Errorf("DDM: declaration %.80q twice", sd.ID)
		}
		it := ddm.DeclarationItem{Kind: sd.Kind, ID: sd.ID, Token: sd.ItemToken}
		p := st.types.parsed(it, sd.Body, func(it ddm.DeclarationItem, body []byte) *parsedDecl {
			p := d.parseDeclarationItem(it, body)
			p.saved = sd // the store's shared copy
			return p
		})
		st.decls[sd.ID] = &ddmDecl{parsedDecl: p}
	}
	st.token, st.synced = saved.Token, true
	maps.Copy(st.reported, saved.Reported)
	for _, name := range saved.ReportedErrors {
		st.reportedErrors[name] = true
	}
	if es := saved.Enforcement; es != nil {
		e := &enforcement{accepted: map[string]bool{}, since: es.Since, forceAt: es.ForceAt, missed: es.Missed,
			forced: es.Forced, unusable: es.Unusable, countdown: es.Countdown, failed: es.Failed, waitPower: es.WaitPower,
			notifications: slices.Clone(es.Notifications), stepAt: es.StepAt, notificationsOff: es.NotificationsOff,
			failCount: es.FailCount, failReason: es.FailReason, failAt: es.FailAt, reasons: slices.Clone(es.Reasons),
			reasonID: es.ReasonID, pending: es.Pending, resumed: true}
		if len(e.notifications) > maxEnfNotifications {
			e.notifications = e.notifications[len(e.notifications)-maxEnfNotifications:]
		}
		for _, k := range es.Accepted {
			e.accepted[k] = true
		}
		if es.CurID != "" {
			// Evaluation finds the same declaration and keeps this history
			// (enforceEvalLocked).
			e.cur = &enfDecl{id: es.CurID, token: es.CurToken, deadline: es.CurDeadline}
		}
		d.sw.enforce = e
	}
	d.ddm = st
	syncIn := saved.SyncAt.Sub(d.env.clock.Now())
	if saved.SyncAt.IsZero() || syncIn > DDMSafetySyncInterval {
		syncIn = DDMSafetySyncInterval
	}
	d.armSafetySyncLocked(st, syncIn)
	return true, nil
}

// maxSavedDeclarations bounds the declarations a saved state may hold.
const maxSavedDeclarations = 10000

// evaluateRestoredDDM evaluates a restored client's declarations on the
// device, as after a sync without changes but without reporting: what it
// last reported is saved, and the next report sends what changed since.
func (d *Device) evaluateRestoredDDM() {
	st := d.ddmCurrent()
	if st == nil {
		return
	}
	st.op.Lock()
	defer st.op.Unlock()
	d.ddmEvaluate(context.Background(), st)
}
