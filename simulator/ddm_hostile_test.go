package simulator_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// warnings counts the device's log records at Warn and above.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, r.Message)
	w.mu.Unlock()
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

func stateSummary(d *simulator.Device) []string {
	var out []string
	for _, s := range d.DDMDeclarations() {
		out = append(out, fmt.Sprintf("%s/%s@%s:%v:%s", s.Kind, s.Identifier, s.ServerToken, s.Active, s.Valid))
	}
	return out
}

func itemsWith(entries string) []byte {
	return []byte(`{"Declarations":{"Activations":[],"Configurations":[` + entries + `],"Assets":[],"Management":[]},"DeclarationsToken":"x"}`)
}

// TestDDMHostileAnswers: whatever a server answers, the device neither
// panics nor loses what it holds. A malformed tokens or declaration-items
// answer is logged, counted and refused, the sync stops, and the next good
// sync converges.
func TestDDMHostileAnswers(t *testing.T) {
	t.Parallel()
	var entries []string
	for i := range ddm.MaxDeclarations + 1 {
		entries = append(entries, fmt.Sprintf(`{"Identifier":"c%d","ServerToken":"1"}`, i))
	}
	many := strings.Join(entries, ",")
	tests := []struct {
		name     string
		endpoint string
		code     int
		body     []byte
		rejected bool // counted as a refused answer (and logged)
		wantLog  []string
	}{
		{"tokens not JSON", "tokens", 200, []byte(`{"SyncTokens":`), true, []string{"tokens", "result Acknowledged"}},
		{"tokens array", "tokens", 200, []byte(`[]`), true, []string{"tokens", "result Acknowledged"}},
		{"tokens empty object", "tokens", 200, []byte(`{}`), true, []string{"tokens", "result Acknowledged"}},
		{"tokens number token", "tokens", 200, []byte(`{"SyncTokens":{"DeclarationsToken":5}}`), true, []string{"tokens", "result Acknowledged"}},
		{"tokens trailing data", "tokens", 200, []byte(`{"SyncTokens":{"DeclarationsToken":"y"}} x`), true, []string{"tokens", "result Acknowledged"}},
		{"tokens huge", "tokens", 200, []byte(`{"SyncTokens":{"DeclarationsToken":"` + strings.Repeat("a", protocol.MaxResponseSize) + `"}}`), false, []string{"tokens", "result Acknowledged"}},
		{"tokens long token", "tokens", 200, []byte(`{"SyncTokens":{"DeclarationsToken":"` + strings.Repeat("a", 5000) + `"}}`), true, []string{"tokens", "result Acknowledged"}},
		{"tokens 500", "tokens", 500, []byte("oops"), false, []string{"tokens", "result Acknowledged"}},
		{"items not JSON", "declaration-items", 200, []byte(`nope`), true, []string{"tokens", "declaration-items", "result Acknowledged"}},
		{"items deep", "declaration-items", 200, []byte(strings.Repeat("[", 20000)), true, []string{"tokens", "declaration-items", "result Acknowledged"}},
		{"items missing list", "declaration-items", 200, []byte(`{"Declarations":{"Activations":[],"Configurations":[],"Management":[]},"DeclarationsToken":"x"}`), true, []string{"tokens", "declaration-items", "result Acknowledged"}},
		{"items identifier number", "declaration-items", 200, itemsWith(`{"Identifier":7,"ServerToken":"1"}`), true, []string{"tokens", "declaration-items", "result Acknowledged"}},
		{"items duplicate", "declaration-items", 200, itemsWith(`{"Identifier":"a","ServerToken":"1"},{"Identifier":"a","ServerToken":"2"}`), true, []string{"tokens", "declaration-items", "result Acknowledged"}},
		{"items slash", "declaration-items", 200, itemsWith(`{"Identifier":"../../x","ServerToken":"1"}`), true, []string{"tokens", "declaration-items", "result Acknowledged"}},
		{"items too many", "declaration-items", 200, itemsWith(many), true, []string{"tokens", "declaration-items", "result Acknowledged"}},
		{"items 403", "declaration-items", http.StatusForbidden, nil, false, []string{"tokens", "declaration-items", "result Acknowledged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := baseServer(t)
			logs := &warnings{}
			d, _ := newDDMDevice(t, srv, macSequoia, simulator.WithLogger(slog.New(logs)))
			srv.enqueueDM(false)
			connect(t, d)
			srv.take()
			before, reports := stateSummary(d), srv.reportCount()

			// The server changes, and answers badly.
			srv.put(ddm.TypeSoftwareUpdateSettings, "set", "st1", settings)
			srv.put(ddm.TypeActivationSimple, "act", "a2", activation("subs", "su", "set"))
			srv.answer(tt.endpoint, tt.code, tt.body)
			srv.enqueueDM(false)
			connect(t, d)
			checkLog(t, "hostile", srv.take(), tt.wantLog)
			if have := stateSummary(d); !slices.Equal(have, before) {
				t.Errorf("state changed:\nhave %q\nwant %q", have, before)
			}
			if srv.reportCount() != reports {
				t.Error("a report was sent after a failed sync")
			}
			st := d.DDMStats()
			if (st.Rejected == 1) != tt.rejected || st.SyncErrors != 1 {
				t.Errorf("stats %+v, want rejected %v and one sync error", st, tt.rejected)
			}
			if w := logs.take(); tt.rejected && (len(w) != 1 || !strings.HasPrefix(w[0], "DDM: rejected")) {
				t.Errorf("warnings %q, want one rejection", w)
			}

			// The server recovers: the next sync converges.
			srv.answer(tt.endpoint, 0, nil)
			srv.enqueueDM(false)
			connect(t, d)
			checkLog(t, "recovered", srv.take(), []string{"tokens", "declaration-items", "declaration/activation/act",
				"declaration/configuration/set", "status", "result Acknowledged"})
			if have := summary(declarations(t, srv.lastReport())["configurations"]); !slices.Equal(have, []string{"set:true:valid", "su:true:valid", "subs:true:valid"}) {
				t.Errorf("after recovery: %q", have)
			}
		})
	}
}

// TestDDMDeclarationFailures: a declaration the server fails to serve keeps
// its previous version and is fetched again next time; one it serves as
// garbage replaces it and is reported invalid.
func TestDDMDeclarationFailures(t *testing.T) {
	t.Parallel()
	srv := baseServer(t)
	d, _ := newDDMDevice(t, srv, macSequoia)
	srv.enqueueDM(false)
	connect(t, d)
	srv.take()

	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e2", map[string]any{"TargetOSVersion": "26.3", "TargetLocalDateTime": "2026-02-01T09:00:00"})
	srv.answer("declaration/configuration/su", http.StatusInternalServerError, nil)
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "500", srv.take(), []string{"tokens", "declaration-items", "declaration/configuration/su", "result Acknowledged"})
	if active := d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific); len(active) != 1 || active[0].ServerToken != "e1" {
		t.Errorf("after 500: active %+v, want su@e1 kept", active)
	}

	// A body beyond what a device reads is a failure like a 500.
	srv.answer("declaration/configuration/su", 200, []byte(`{"Type":"com.apple.configuration.softwareupdate.enforcement.specific","Identifier":"su","ServerToken":"e2","Payload":{"DetailsURL":"`+
		strings.Repeat("x", protocol.MaxResponseSize)+`"}}`))
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "huge", srv.take(), []string{"tokens", "declaration-items", "declaration/configuration/su", "result Acknowledged"})
	if active := d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific); len(active) != 1 || active[0].ServerToken != "e1" {
		t.Errorf("after a huge body: active %+v, want su@e1 kept", active)
	}

	// Incomplete sync: the same tokens still lead to a fetch.
	srv.answer("declaration/configuration/su", 200, []byte(`{"Type":"com.apple.configuration.softwareupdate.enforcement.specific","Identifier":"su","ServerToken":"e2","Payload":{"TargetOSVersion":["26.3"]}}`))
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "garbage", srv.take(), []string{"tokens", "declaration-items", "declaration/configuration/su", "status", "result Acknowledged"})
	if have := summary(declarations(t, srv.lastReport())["configurations"]); !slices.Equal(have, []string{
		"su:false:invalid:Error.ConfigurationCannotBeDeserialized", "subs:true:valid"}) {
		t.Errorf("garbage: %q", have)
	}
	if active := d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific); len(active) != 0 {
		t.Errorf("an invalid declaration is active: %+v", active)
	}

	// A report the server refuses is not lost: its values go out next time.
	srv.answer("declaration/configuration/su", 0, nil)
	srv.answer("status", http.StatusInternalServerError, nil)
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e3", enforcement)
	srv.enqueueDM(false)
	connect(t, d)
	checkLog(t, "status 500", srv.take(), []string{"tokens", "declaration-items", "declaration/configuration/su", "status", "result Acknowledged"})
	srv.answer("status", 0, nil)
	if err := d.DDMStatusChanged(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkLog(t, "resent", srv.take(), []string{"status"})
	if have := summary(declarations(t, srv.lastReport())["configurations"]); !slices.Equal(have, []string{"su:true:valid", "subs:true:valid"}) {
		t.Errorf("resent: %q", have)
	}
	if st := d.DDMStats(); st.ReportErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDDMCommandData: the command's optional Data must be a TokensResponse;
// anything else is a CommandFormatError that changes nothing.
func TestDDMCommandData(t *testing.T) {
	t.Parallel()
	cmd := func(data any) []byte {
		b, err := plist.Marshal(map[string]any{"CommandUUID": "dm-1", "Command": map[string]any{
			"RequestType": "DeclarativeManagement", "Data": data}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"not JSON", cmd([]byte("{")), "result CommandFormatError"},
		{"not tokens", cmd([]byte(`{"Declarations":{}}`)), "result CommandFormatError"},
		{"string instead of data", cmd("eyJTeW5jVG9rZW5zIjp7fX0="), "result CommandFormatError"},
		{"huge token", cmd([]byte(`{"SyncTokens":{"DeclarationsToken":"` + strings.Repeat("z", 4096) + `"}}`)), "result CommandFormatError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := baseServer(t)
			d, _ := newDDMDevice(t, srv, iPhone18)
			srv.enqueueRaw(tt.body)
			connect(t, d)
			checkLog(t, tt.name, srv.take(), []string{tt.want})
			if d.DDMEnabled() {
				t.Error("a malformed command enabled DDM")
			}
		})
	}
}

// TestDDMFleet: many devices of one Env sync concurrently against one
// server (run with -race).
func TestDDMFleet(t *testing.T) {
	t.Parallel()
	srv := baseServer(t)
	env := simulator.NewEnv()
	var devices []*simulator.Device
	for i := range 20 {
		spec := macSequoia
		if i%2 == 1 {
			spec = iPhone18
		}
		id := spec.identity(t)
		id.UDID = fmt.Sprintf("UDID-%02d", i)
		d := env.NewDevice(id)
		if err := d.EnrollWithIdentity(context.Background(), srv.profile(), selfIdentity(t)); err != nil {
			t.Fatal(err)
		}
		devices = append(devices, d)
	}
	// Enable one after the other (the server has one command queue), then
	// sync and report all at once.
	for _, d := range devices {
		srv.enqueueDM(true)
		connect(t, d)
	}
	srv.put(ddm.TypeSoftwareUpdateEnforcementSpecific, "su", "e2", enforcement)
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Go(func() {
			if err := d.DDMSync(context.Background()); err != nil {
				t.Error(err)
			}
			if err := d.DDMStatusChanged(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, d := range devices {
		if active := d.DDMActiveConfigurations(ddm.TypeSoftwareUpdateEnforcementSpecific); len(active) != 1 || active[0].ServerToken != "e2" {
			t.Errorf("%s: %q", d.UDID(), stateSummary(d))
		}
	}
}
