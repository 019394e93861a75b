package simulator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// ddmCheckin sends one DeclarativeManagement check-in.
func (d *Device) ddmCheckin(ctx context.Context, enr *enrollment, endpoint string, data []byte) ([]byte, error) {
	sess := enr.transport.Session(enr.identity, enr.mode)
	defer sess.Close()
	return sess.Checkin(ctx, enr.checkInURL, &protocol.DeclarativeManagement{
		Enrollment: protocol.Enrollment{UDID: d.UDID()}, Endpoint: endpoint, Data: data,
	})
}

// ddmSync is one synchronisation; the caller holds st.op.
func (d *Device) ddmSync(ctx context.Context, st *ddmState, tokens *ddm.SyncTokens, full bool) error {
	enr, err := d.enrollmentSnapshot()
	if err != nil {
		return err
	}
	d.mu.Lock()
	st.stats.Syncs++
	d.mu.Unlock()
	fail := func(err error) error {
		d.mu.Lock()
		st.stats.SyncErrors++
		d.mu.Unlock()
		return err
	}
	if tokens == nil {
		body, err := d.ddmCheckin(ctx, enr, "tokens", nil)
		if err != nil {
			return fail(fmt.Errorf("simulator: DDM tokens: %w", err))
		}
		if tokens, err = ddm.ParseTokens(body); err != nil {
			d.env.logger.Warn("DDM: rejected tokens", "udid", d.UDID(), "err", err)
			d.ddmCountRejected()
			return fail(err)
		}
	}
	d.mu.Lock()
	current := st.synced && st.token == tokens.DeclarationsToken
	d.mu.Unlock()
	if !current {
		if err := d.ddmFetch(ctx, st, enr); err != nil {
			return fail(err)
		}
	}
	d.ddmEvaluate(ctx, st)
	return d.ddmReport(ctx, st, enr, full)
}

// ddmFetch gets declaration-items and every new or changed declaration.
// A declaration the server answers with 404 is removed; one it fails to
// serve otherwise keeps its previous version, and the sync is left
// incomplete so the next one tries again.
func (d *Device) ddmFetch(ctx context.Context, st *ddmState, enr *enrollment) error {
	body, err := d.ddmCheckin(ctx, enr, "declaration-items", nil)
	if err != nil {
		return fmt.Errorf("simulator: DDM declaration-items: %w", err)
	}
	items, token, err := ddm.ParseDeclarationItems(body)
	if err != nil {
		d.env.logger.Warn("DDM: rejected declaration-items", "udid", d.UDID(), "err", err)
		d.ddmCountRejected()
		return err
	}
	d.mu.Lock()
	old := maps.Clone(st.decls)
	d.mu.Unlock()
	next := make(map[string]*ddmDecl, len(items))
	complete := true
	fetched, removed := 0, 0
	for _, it := range items {
		if o := old[it.ID]; o != nil && o.kind == it.Kind && o.itemToken == it.Token {
			next[it.ID] = o
			continue
		}
		fetched++
		body, err := d.ddmCheckin(ctx, enr, "declaration/"+it.Kind+"/"+it.ID, nil)
		var he *protocol.HTTPError
		switch {
		case errors.As(err, &he) && he.StatusCode == http.StatusNotFound:
			if old[it.ID] != nil {
				removed++
			}
			continue
		case err != nil:
			complete = false
			if o := old[it.ID]; o != nil {
				next[it.ID] = o
			}
			d.env.logger.Info("DDM: declaration", "udid", d.UDID(), "id", it.ID, "err", err)
			if ctx.Err() != nil {
				return fmt.Errorf("simulator: DDM declaration %s: %w", it.ID, err)
			}
			continue
		}
		next[it.ID] = &ddmDecl{parsedDecl: st.types.parsed(it, body, d.parseDeclarationItem)}
	}
	for id := range old {
		if _, ok := next[id]; !ok {
			if slices.ContainsFunc(items, func(it ddm.DeclarationItem) bool { return it.ID == id }) {
				continue // counted as a 404 above
			}
			removed++
		}
	}
	d.mu.Lock()
	st.decls = next
	st.stats.Fetched += fetched
	st.stats.Removed += removed
	if complete {
		st.token, st.synced = token, true
	}
	d.mu.Unlock()
	return nil
}

// parseDeclarationItem reads a fetched declaration. Whatever the body, the
// result is a declaration to report: an unreadable one is invalid with the
// reason.
func (d *Device) parseDeclarationItem(it ddm.DeclarationItem, body []byte) *parsedDecl {
	decl, err := ddm.ParseDeclaration(body)
	p := &parsedDecl{kind: it.Kind, itemToken: it.Token,
		saved: &SavedDeclaration{Kind: it.Kind, ID: it.ID, ItemToken: it.Token, Body: body}}
	var de *ddm.DeclarationError
	switch {
	case errors.As(err, &de):
		p.static = de.Reasons
	case decl.Identifier != it.ID:
		p.static = []ddm.StatusReason{{Code: ddm.ReasonInvalidPayload,
			Description: fmt.Sprintf("The declaration's Identifier %.80q is not the one requested.", decl.Identifier), Details: ddm.IDDetails(decl)}}
	case decl.Kind() != it.Kind:
		p.static = []ddm.StatusReason{{Code: ddm.ReasonInvalidPayload,
			Description: fmt.Sprintf("A %s declaration is listed with the %s declarations.", decl.Kind(), it.Kind), Details: ddm.IDDetails(decl)}}
	case decl.Type == ddm.TypeActivationSimple:
		raw, _ := decl.Payload["Predicate"].(string)
		pred, err := ddm.ParsePredicate(raw)
		if err != nil {
			p.static = []ddm.StatusReason{{Code: ddm.ReasonUnableToParsePredicate, Description: err.Error(),
				Details: map[string]any{"Identifier": decl.Identifier, "ServerToken": decl.ServerToken, "Predicate": raw}}}
		}
		p.pred = pred
	}
	// Report under the names the server listed when the body could not
	// say them.
	if decl.Identifier == "" || p.static != nil && decl.Identifier != it.ID {
		decl.Identifier = it.ID
	}
	if decl.ServerToken == "" {
		decl.ServerToken = it.Token
	}
	if decl.Payload == nil {
		decl.Payload = map[string]any{}
	}
	p.decl = decl
	if p.static != nil {
		d.env.logger.Info("DDM: invalid declaration", "udid", d.UDID(), "id", it.ID, "reason", p.static[0].Description)
	}
	return p
}
