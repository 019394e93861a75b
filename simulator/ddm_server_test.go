package simulator_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brianvoe/gofakeit/v6"
	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/simulator"
	"github.com/mdmsim/mdmsim/simulator/ddm"
	"github.com/mdmsim/mdmsim/simulator/identity"
	"github.com/mdmsim/mdmsim/simulator/protocol"
)

// ddmServer is a scripted DDM server: it serves tokens, declaration-items
// and declarations from what the test put in it, queues commands, records
// every exchange in order, and validates every status report against
// Apple's schema.
type ddmServer struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	decls    []*serverDecl
	override map[string]func() (int, []byte) // endpoint → answer
	queue    [][]byte
	log      []string
	reports  []map[string]any
	n        int
	// bootstrap is the token the device escrowed with SetBootstrapToken,
	// answered to GetBootstrapToken; checkins counts those two.
	bootstrap []byte
	checkins  []string
}

type serverDecl struct {
	kind, id, token string
	body            []byte
}

func newDDMServer(t *testing.T) *ddmServer {
	s := &ddmServer{t: t, override: map[string]func() (int, []byte){}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *ddmServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Content-Type") != protocol.ContentTypeCheckin {
		res, err := protocol.DecodeResult(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if res.Status != protocol.StatusIdle {
			s.log = append(s.log, "result "+string(res.Status))
		}
		if len(s.queue) > 0 {
			w.Write(s.queue[0])
			s.queue = s.queue[1:]
		}
		return
	}
	m, err := protocol.UnmarshalCheckin(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch m := m.(type) {
	case *protocol.SetBootstrapToken:
		s.checkins = append(s.checkins, "SetBootstrapToken")
		s.bootstrap = m.BootstrapToken
		return
	case *protocol.GetBootstrapToken:
		s.checkins = append(s.checkins, "GetBootstrapToken")
		if s.bootstrap != nil {
			b, _ := plist.Marshal(protocol.BootstrapTokenResponse{BootstrapToken: s.bootstrap})
			w.Write(b)
		}
		return
	}
	dm, ok := m.(*protocol.DeclarativeManagement)
	if !ok {
		return // Authenticate, TokenUpdate
	}
	s.log = append(s.log, dm.Endpoint)
	if f := s.override[dm.Endpoint]; f != nil {
		code, b := f()
		w.WriteHeader(code)
		w.Write(b)
		return
	}
	switch {
	case dm.Endpoint == "tokens":
		w.Write(s.tokensLocked())
	case dm.Endpoint == "declaration-items":
		w.Write(s.itemsLocked())
	case dm.Endpoint == "status":
		if err := ddm.ValidateStatusReport(dm.Data); err != nil {
			s.t.Errorf("status report %d does not follow Apple's schema: %v\n%s", len(s.reports), err, dm.Data)
		}
		var rep map[string]any
		if err := json.Unmarshal(dm.Data, &rep); err != nil {
			s.t.Errorf("status report: %v", err)
		}
		s.reports = append(s.reports, rep)
	case strings.HasPrefix(dm.Endpoint, "declaration/"):
		for _, d := range s.decls {
			if dm.Endpoint == "declaration/"+d.kind+"/"+d.id && d.body != nil {
				w.Write(d.body)
				return
			}
		}
		http.NotFound(w, r)
	default:
		http.Error(w, "unknown endpoint", http.StatusBadRequest)
	}
}

func (s *ddmServer) declarationsToken() string {
	h := sha256.New()
	for _, d := range s.decls {
		fmt.Fprintf(h, "%s/%s/%s\n", d.kind, d.id, d.token)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (s *ddmServer) tokensLocked() []byte {
	b, _ := json.Marshal(map[string]any{"SyncTokens": map[string]any{
		"DeclarationsToken": s.declarationsToken(), "Timestamp": "2026-01-05T10:00:00Z"}})
	return b
}

func (s *ddmServer) itemsLocked() []byte {
	lists := map[string][]any{"Activations": {}, "Configurations": {}, "Assets": {}, "Management": {}}
	key := map[string]string{"activation": "Activations", "configuration": "Configurations", "asset": "Assets", "management": "Management"}
	for _, d := range s.decls {
		lists[key[d.kind]] = append(lists[key[d.kind]], map[string]any{"Identifier": d.id, "ServerToken": d.token})
	}
	b, _ := json.Marshal(map[string]any{"Declarations": lists, "DeclarationsToken": s.declarationsToken()})
	return b
}

// put adds or replaces a declaration, keeping its place in the lists.
func (s *ddmServer) put(typ, id, token string, payload map[string]any) {
	body, err := json.Marshal(map[string]any{"Type": typ, "Identifier": id, "ServerToken": token, "Payload": payload})
	if err != nil {
		s.t.Fatal(err)
	}
	kind := strings.Split(typ, ".")[2]
	s.putRaw(kind, id, token, body)
}

func (s *ddmServer) putRaw(kind, id, token string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.decls {
		if d.id == id {
			d.kind, d.token, d.body = kind, token, body
			return
		}
	}
	s.decls = append(s.decls, &serverDecl{kind: kind, id: id, token: token, body: body})
}

// listOnly lists a declaration in declaration-items that the server then
// answers with 404.
func (s *ddmServer) listOnly(kind, id, token string) { s.putRaw(kind, id, token, nil) }

func (s *ddmServer) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decls = slices.DeleteFunc(s.decls, func(d *serverDecl) bool { return d.id == id })
}

func (s *ddmServer) answer(endpoint string, code int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.override, endpoint)
		return
	}
	s.override[endpoint] = func() (int, []byte) { return code, body }
}

// enqueueDM queues a DeclarativeManagement command, with the tokens in
// Data when withTokens.
func (s *ddmServer) enqueueDM(withTokens bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	payload := map[string]any{}
	if withTokens {
		payload["Data"] = s.tokensLocked()
	}
	s.enqueueLocked("DeclarativeManagement", payload)
}

func (s *ddmServer) enqueueLocked(requestType string, payload map[string]any) {
	s.n++
	b, err := protocol.NewCommand(fmt.Sprintf("cmd-%d", s.n), requestType, payload)
	if err != nil {
		s.t.Fatal(err)
	}
	s.queue = append(s.queue, b)
}

func (s *ddmServer) enqueueRaw(b []byte) {
	s.mu.Lock()
	s.queue = append(s.queue, b)
	s.mu.Unlock()
}

// take returns the exchanges since the last take.
func (s *ddmServer) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	s.log = nil
	return l
}

// lastReport returns the last status report.
func (s *ddmServer) lastReport() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reports) == 0 {
		s.t.Fatal("no status report")
	}
	return s.reports[len(s.reports)-1]
}

func (s *ddmServer) reportCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reports)
}

func (s *ddmServer) profile() *protocol.EnrollmentProfile {
	return &protocol.EnrollmentProfile{
		PayloadIdentifier: "test.enroll", PayloadUUID: "P1",
		Certificates: [][]byte{s.Certificate().Raw},
		MDM: protocol.MDMPayload{PayloadType: protocol.PayloadTypeMDM, ServerURL: s.URL + "/mdm",
			Topic: "com.apple.mgmt.External.test", IdentityCertificateUUID: "X", SignMessage: true,
			AccessRights: simulator.AccessAll, CheckOutWhenRemoved: true,
			// Apple-silicon Macs escrow their bootstrap token with it
			// (ddm_deadline_test.go).
			ServerCapabilities: []string{simulator.CapabilityBootstrapToken}},
	}
}

// deviceSpec picks a model and an OS the catalog shipped for it.
type deviceSpec struct {
	model, version, build string
	supervised            bool
}

var (
	macSequoia  = deviceSpec{"Mac14,2", "15.7.1", "24G231", true}
	macSonoma   = deviceSpec{"Mac14,2", "14.8.1", "23J30", true}
	macVentura  = deviceSpec{"Mac14,2", "13.7.8", "22H730", true}
	macMonterey = deviceSpec{"Mac14,2", "12.7.6", "21H1320", true}
	iPhone18    = deviceSpec{"iPhone15,2", "18.6", "22G86", false}
)

func (ds deviceSpec) identity(t testing.TB) identity.Identity {
	t.Helper()
	id, err := identity.New(gofakeit.New(7), identity.Options{Model: ds.model})
	if err != nil {
		t.Fatal(err)
	}
	id.OSVersion, id.BuildVersion, id.IsSupervised = ds.version, ds.build, ds.supervised
	return id
}

// newDDMDevice enrolls a device with srv on a manual clock.
func newDDMDevice(t *testing.T, srv *ddmServer, ds deviceSpec, opts ...simulator.Option) (*simulator.Device, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	d := simulator.New(ds.identity(t), append([]simulator.Option{simulator.WithClock(clk)}, opts...)...)
	if err := d.EnrollWithIdentity(context.Background(), srv.profile(), selfIdentity(t)); err != nil {
		t.Fatal(err)
	}
	srv.take()
	return d, clk
}

func connect(t *testing.T, d *simulator.Device) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Connect(ctx); err != nil {
		t.Fatal(err)
	}
}

// path reads a value from a decoded JSON tree: path("StatusItems",
// "device", "operating-system", "version").
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// declStatus is one entry of management.declarations.
type declStatus struct {
	Identifier  string `json:"identifier"`
	ServerToken string `json:"server-token"`
	Active      bool   `json:"active"`
	Valid       string `json:"valid"`
	Reasons     []struct {
		Code        string         `json:"code"`
		Description string         `json:"description"`
		Details     map[string]any `json:"details"`
	} `json:"reasons"`
}

// declarations reads management.declarations from a report, by kind.
func declarations(t *testing.T, report map[string]any) map[string][]declStatus {
	t.Helper()
	v := path(report, "StatusItems", "management", "declarations")
	if v == nil {
		t.Fatalf("report without management.declarations: %v", report)
	}
	b, _ := json.Marshal(v)
	var out map[string][]declStatus
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// summary is "identifier:active:valid[:code]" for every declaration of a
// kind.
func summary(ds []declStatus) []string {
	var out []string
	for _, d := range ds {
		s := fmt.Sprintf("%s:%v:%s", d.Identifier, d.Active, d.Valid)
		for _, r := range d.Reasons {
			s += ":" + r.Code
		}
		out = append(out, s)
	}
	return out
}

// itemNames lists the dotted names of the status items in a report.
func itemNames(report map[string]any) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		m, ok := v.(map[string]any)
		if !ok || prefix == "management.declarations" || prefix == "management.client-capabilities" ||
			prefix == "softwareupdate.pending-version" || prefix == "softwareupdate.failure-reason" || prefix == "softwareupdate.install-reason" {
			out = append(out, prefix)
			return
		}
		for k, sub := range m {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			walk(name, sub)
		}
	}
	walk("", report["StatusItems"])
	slices.Sort(out)
	return out
}

func checkLog(t *testing.T, step string, have, want []string) {
	t.Helper()
	if !slices.Equal(have, want) {
		t.Errorf("%s: exchanges\nhave %q\nwant %q", step, have, want)
	}
}
