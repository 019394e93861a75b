package simulator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// The DDM synchronisation protocol: tokens, declaration-items and
// declaration/<kind>/<id>, read strictly.

// syncTokens is a TokensResponse.
type syncTokens struct {
	DeclarationsToken string
}

// ddmCheckin sends one DeclarativeManagement check-in.
func (d *Device) ddmCheckin(ctx context.Context, enr *enrollment, endpoint string, data []byte) ([]byte, error) {
	sess := enr.transport.Session(enr.identity, enr.mode)
	defer sess.Close()
	return sess.Checkin(ctx, enr.checkInURL, &protocol.DeclarativeManagement{
		Enrollment: protocol.Enrollment{UDID: d.UDID()}, Endpoint: endpoint, Data: data,
	})
}

// ddmSync is one synchronisation; the caller holds st.op.
func (d *Device) ddmSync(ctx context.Context, st *ddmState, tokens *syncTokens, full bool) error {
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
		if tokens, err = parseTokens(body); err != nil {
			d.env.Logger.Warn("DDM: rejected tokens", "udid", d.UDID(), "err", err)
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

// parseTokens reads a TokensResponse strictly: SyncTokens with a string
// DeclarationsToken.
func parseTokens(data []byte) (*syncTokens, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("simulator: DDM tokens: %w", err)
	}
	if is := validateProtocol("TokensResponse", v); len(is.problems) > 0 {
		return nil, fmt.Errorf("simulator: DDM tokens: %s", is)
	}
	st, _ := v.(map[string]any)["SyncTokens"].(map[string]any)
	tok, ok := st["DeclarationsToken"].(string)
	switch {
	case !ok:
		return nil, errors.New("simulator: DDM tokens: SyncTokens.DeclarationsToken missing or not a string")
	case len(tok) > maxDDMTokenLength:
		return nil, errors.New("simulator: DDM tokens: DeclarationsToken too long")
	}
	if ts, ok := st["Timestamp"]; ok {
		if _, isString := ts.(string); !isString {
			return nil, errors.New("simulator: DDM tokens: SyncTokens.Timestamp is not a string")
		}
	}
	return &syncTokens{DeclarationsToken: tok}, nil
}

// declarationItem is one entry of declaration-items.
type declarationItem struct {
	kind, id, token string
}

// itemLists maps DeclarationItemsResponse's lists to declaration kinds,
// in the order the device fetches them.
var itemLists = []struct{ key, kind string }{
	{"Activations", KindActivation}, {"Configurations", KindConfiguration}, {"Assets", KindAsset}, {"Management", KindManagement},
}

// parseDeclarationItems reads a DeclarationItemsResponse strictly.
func parseDeclarationItems(data []byte) (items []declarationItem, token string, err error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, "", fmt.Errorf("simulator: DDM declaration-items: %w", err)
	}
	if is := validateProtocol("DeclarationItemsResponse", v); !is.ok() {
		return nil, "", fmt.Errorf("simulator: DDM declaration-items: %s", is)
	}
	m := v.(map[string]any)
	token = m["DeclarationsToken"].(string)
	if len(token) > maxDDMTokenLength {
		return nil, "", errors.New("simulator: DDM declaration-items: DeclarationsToken too long")
	}
	lists := m["Declarations"].(map[string]any)
	seen := map[string]bool{}
	for _, l := range itemLists {
		for _, e := range lists[l.key].([]any) {
			e := e.(map[string]any)
			it := declarationItem{kind: l.kind, id: e["Identifier"].(string), token: e["ServerToken"].(string)}
			if seen[it.id] {
				return nil, "", fmt.Errorf("simulator: DDM declaration-items: identifier %q listed twice", it.id)
			}
			if it.id == "" || len(it.id) > MaxDeclarationIDLength || strings.ContainsAny(it.id, "/\x00") || len(it.token) > MaxDeclarationIDLength {
				return nil, "", fmt.Errorf("simulator: DDM declaration-items: unusable identifier or token %.80q", it.id)
			}
			seen[it.id] = true
			items = append(items, it)
		}
	}
	if len(items) > MaxDeclarations {
		return nil, "", fmt.Errorf("simulator: DDM declaration-items: %d declarations, more than %d", len(items), MaxDeclarations)
	}
	return items, token, nil
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
	items, token, err := parseDeclarationItems(body)
	if err != nil {
		d.env.Logger.Warn("DDM: rejected declaration-items", "udid", d.UDID(), "err", err)
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
		if o := old[it.id]; o != nil && o.kind == it.kind && o.itemToken == it.token {
			next[it.id] = o
			continue
		}
		fetched++
		body, err := d.ddmCheckin(ctx, enr, "declaration/"+it.kind+"/"+it.id, nil)
		var he *protocol.HTTPError
		switch {
		case errors.As(err, &he) && he.StatusCode == http.StatusNotFound:
			if old[it.id] != nil {
				removed++
			}
			continue
		case err != nil:
			complete = false
			if o := old[it.id]; o != nil {
				next[it.id] = o
			}
			d.env.Logger.Info("DDM: declaration", "udid", d.UDID(), "id", it.id, "err", err)
			if ctx.Err() != nil {
				return fmt.Errorf("simulator: DDM declaration %s: %w", it.id, err)
			}
			continue
		}
		next[it.id] = &ddmDecl{parsedDecl: st.types.parsed(it, body, d.parseDeclarationItem)}
	}
	for id := range old {
		if _, ok := next[id]; !ok {
			if slices.ContainsFunc(items, func(it declarationItem) bool { return it.id == id }) {
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
func (d *Device) parseDeclarationItem(it declarationItem, body []byte) *parsedDecl {
	decl, err := ParseDeclaration(body)
	p := &parsedDecl{kind: it.kind, itemToken: it.token}
	var de *DeclarationError
	switch {
	case errors.As(err, &de):
		p.static = de.Reasons
	case decl.Identifier != it.id:
		p.static = []StatusReason{{Code: ReasonInvalidPayload,
			Description: fmt.Sprintf("The declaration's Identifier %.80q is not the one requested.", decl.Identifier), Details: idDetails(decl)}}
	case decl.Kind() != it.kind:
		p.static = []StatusReason{{Code: ReasonInvalidPayload,
			Description: fmt.Sprintf("A %s declaration is listed with the %s declarations.", decl.Kind(), it.kind), Details: idDetails(decl)}}
	case decl.Type == TypeActivationSimple:
		raw, _ := decl.Payload["Predicate"].(string)
		pred, err := parsePredicate(raw)
		if err != nil {
			p.static = []StatusReason{{Code: ReasonUnableToParsePredicate, Description: err.Error(),
				Details: map[string]any{"Identifier": decl.Identifier, "ServerToken": decl.ServerToken, "Predicate": raw}}}
		}
		p.pred = pred
	}
	// Report under the names the server listed when the body could not
	// say them.
	if decl.Identifier == "" || p.static != nil && decl.Identifier != it.id {
		decl.Identifier = it.id
	}
	if decl.ServerToken == "" {
		decl.ServerToken = it.token
	}
	if decl.Payload == nil {
		decl.Payload = map[string]any{}
	}
	p.decl = decl
	if p.static != nil {
		d.env.Logger.Info("DDM: invalid declaration", "udid", d.UDID(), "id", it.id, "reason", p.static[0].Description)
	}
	return p
}
