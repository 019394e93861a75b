package mockgdmf

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// macBuilds lists the macOS builds of a served answer's PublicAssetSets.
func macPublicBuilds(t *testing.T, body []byte) []string {
	t.Helper()
	var doc catalog.Document
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	var out []string
	for _, a := range doc.PublicAssetSets[catalog.MacOS] {
		out = append(out, a.Build)
	}
	return out
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, status int, h http.Header, body []byte, slept []time.Duration)
	}{
		{"503 with Retry-After", StatusFault(503, 2*time.Minute), func(t *testing.T, status int, h http.Header, _ []byte, _ []time.Duration) {
			if status != 503 || h.Get("Retry-After") != "120" {
				t.Errorf("status %d, Retry-After %q", status, h.Get("Retry-After"))
			}
		}},
		{"429 rounds Retry-After up", StatusFault(429, 1500*time.Millisecond), func(t *testing.T, status int, h http.Header, _ []byte, _ []time.Duration) {
			if status != 429 || h.Get("Retry-After") != "2" {
				t.Errorf("status %d, Retry-After %q", status, h.Get("Retry-After"))
			}
		}},
		{"500 without Retry-After", StatusFault(500, 0), func(t *testing.T, status int, h http.Header, _ []byte, _ []time.Duration) {
			if status != 500 || h.Get("Retry-After") != "" || h.Get("ETag") != "" {
				t.Errorf("status %d, Retry-After %q, ETag %q", status, h.Get("Retry-After"), h.Get("ETag"))
			}
		}},
		{"latency", LatencyFault(3 * time.Second), func(t *testing.T, status int, _ http.Header, body []byte, slept []time.Duration) {
			if status != 200 || !slices.Equal(slept, []time.Duration{3 * time.Second}) {
				t.Errorf("status %d, slept %v", status, slept)
			}
			macPublicBuilds(t, body)
		}},
		{"stale by ten days", StaleFault(10 * 24 * time.Hour), func(t *testing.T, status int, _ http.Header, body []byte, _ []time.Duration) {
			// 26.6.2 (25G83) was posted on 2026-08-17: on 08-12 the
			// newest was 26.6.1 (25G76).
			got := macPublicBuilds(t, body)
			if status != 200 || slices.Contains(got, "25G83") || !slices.Contains(got, "25G76") {
				t.Errorf("status %d, public macOS %v", status, got)
			}
		}},
		{"stale as of a date", StaleAsOfFault(time.Date(2025, 10, 22, 0, 0, 0, 0, time.UTC)), func(t *testing.T, status int, _ http.Header, body []byte, _ []time.Duration) {
			got := macPublicBuilds(t, body)
			if status != 200 || !slices.Contains(got, "25A362") || slices.Contains(got, "25G83") {
				t.Errorf("status %d, public macOS %v", status, got)
			}
		}},
		{"malformed", MalformedFault(), func(t *testing.T, status int, h http.Header, body []byte, _ []time.Duration) {
			var v any
			if status != 200 || len(body) == 0 || json.Unmarshal(body, &v) == nil || h.Get("ETag") != "" {
				t.Errorf("status %d, %d bytes, ETag %q: want a 200 with an unparsable body", status, len(body), h.Get("ETag"))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var slept []time.Duration
			s := newServer(t, WithSleep(func(_ context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				slept = append(slept, d)
				return nil
			}))
			if err := s.SetFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			resp, body := get(t, s, PMVPath, nil)
			mu.Lock()
			tt.check(t, resp.StatusCode, resp.Header, body, slices.Clone(slept))
			mu.Unlock()
			if reqs := s.Requests(); len(reqs) != 1 || !slices.Equal(reqs[0].Faults, []FaultKind{tt.fault.Kind}) || reqs[0].Status != resp.StatusCode {
				t.Errorf("recorded %+v", reqs)
			}
			s.ClearFaults()
			if resp, _ := get(t, s, PMVPath, nil); resp.StatusCode != 200 {
				t.Errorf("after ClearFaults: %d", resp.StatusCode)
			}
		})
	}
}

func TestFaultsCombineAndReplace(t *testing.T) {
	t.Parallel()
	s := newServer(t, WithSleep(func(context.Context, time.Duration) error { return nil }))
	for _, f := range []Fault{LatencyFault(time.Second), StatusFault(503, 0), StatusFault(502, 0)} {
		if err := s.SetFault(f); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Faults(); len(got) != 2 || got[1].Status != 502 {
		t.Errorf("Faults = %+v, want latency and the 502 that replaced the 503", got)
	}
	rec := serve(s, http.MethodGet, PMVPath, "", nil)
	if rec.Code != 502 {
		t.Errorf("status %d", rec.Code)
	}
	if r := s.Requests()[0]; !slices.Equal(r.Faults, []FaultKind{FaultLatency, FaultStatus}) {
		t.Errorf("recorded faults %v", r.Faults)
	}
	if err := s.SetFault(Fault{Kind: "nope"}); !errors.Is(err, ErrInvalidFault) {
		t.Errorf("SetFault(bad) = %v", err)
	}
}

// tinyCatalog keeps tests that send many requests fast.
func tinyCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Load(strings.NewReader(`{"AssetSets":{"macOS":[{"ProductVersion":"26.1","Build":"25B78",
		"PostingDate":"2025-11-03","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP"]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFaultCountAndProbability(t *testing.T) {
	t.Parallel()
	s := newServer(t, WithCatalog(tinyCatalog(t)))
	if err := s.SetFault(StatusFault(503, 0).WithCount(2)); err != nil {
		t.Fatal(err)
	}
	var codes []int
	for range 4 {
		codes = append(codes, serve(s, http.MethodGet, PMVPath, "", nil).Code)
	}
	if !slices.Equal(codes, []int{503, 503, 200, 200}) {
		t.Errorf("statuses %v, want two 503s then 200s", codes)
	}
	if n := len(s.Faults()); n != 0 {
		t.Errorf("%d faults left after the count ran out", n)
	}

	// The same seed hits the same requests.
	run := func(seed uint64) []int {
		s := newServer(t, WithSeed(seed), WithCatalog(tinyCatalog(t)))
		if err := s.SetFault(StatusFault(503, 0).WithProbability(0.3)); err != nil {
			t.Fatal(err)
		}
		var hits []int
		for i := range 200 {
			if serve(s, http.MethodGet, PMVPath, "", nil).Code == 503 {
				hits = append(hits, i)
			}
		}
		return hits
	}
	a, b := run(7), run(7)
	if !slices.Equal(a, b) {
		t.Error("same seed, different faulted requests")
	}
	if len(a) < 30 || len(a) > 90 {
		t.Errorf("probability 0.3 hit %d of 200 requests", len(a))
	}
}

func TestLatencyCancelled(t *testing.T) {
	t.Parallel()
	s := newServer(t, WithSleep(func(ctx context.Context, _ time.Duration) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	if err := s.SetFault(LatencyFault(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+PMVPath, nil)
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request completed despite the latency fault")
	}
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		body       string
		wantStatus int
		wantInBody string
		wantFaults int
	}{
		{"one fault", "POST", `{"kind":"status","status":503,"retry_after":"30s"}`, 200, `"retry_after":"30s"`, 1},
		{"array", "POST", `[{"kind":"latency","latency":"250ms"},{"kind":"malformed","probability":0.5,"count":3}]`, 200, `"latency":"250ms"`, 2},
		{"stale as_of", "POST", `{"kind":"stale","as_of":"2026-01-02T00:00:00Z"}`, 200, `"as_of":"2026-01-02T00:00:00Z"`, 1},
		{"not JSON", "POST", `{kind: status}`, 400, "invalid fault", 0},
		{"empty", "POST", ``, 400, "empty body", 0},
		{"empty array", "POST", `[]`, 400, "empty array", 0},
		{"unknown field", "POST", `{"kind":"status","status":503,"colour":"red"}`, 400, "unknown field", 0},
		{"unknown kind", "POST", `{"kind":"explode"}`, 400, "unknown kind", 0},
		{"missing kind", "POST", `{"status":503}`, 400, "kind is missing", 0},
		{"status not an error", "POST", `{"kind":"status","status":200}`, 400, "not an HTTP error status", 0},
		{"numeric duration", "POST", `{"kind":"latency","latency":5}`, 400, "duration must be a string", 0},
		{"bad duration", "POST", `{"kind":"latency","latency":"soon"}`, 400, "soon", 0},
		{"latency too long", "POST", `{"kind":"latency","latency":"1h"}`, 400, "latency", 0},
		{"stale needs one", "POST", `{"kind":"stale"}`, 400, "exactly one", 0},
		{"probability", "POST", `{"kind":"malformed","probability":2}`, 400, "probability", 0},
		{"negative count", "POST", `{"kind":"malformed","count":-1}`, 400, "count", 0},
		{"trailing data", "POST", `{"kind":"malformed"} {}`, 400, "trailing", 0},
		{"second fault bad", "POST", `[{"kind":"malformed"},{"kind":"latency"}]`, 400, "fault 1", 0},
		{"wrong type", "POST", `{"kind":"status","status":"503"}`, 400, "invalid fault", 0},
		{"too big", "POST", `{"kind":"malformed","x":"` + strings.Repeat("a", maxControlBody) + `"}`, 413, "larger than", 0},
		{"list", "GET", ``, 200, `[]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			rec := serve(s, tt.method, ControlPrefix+"faults", tt.body, http.Header{"Content-Type": {"application/json"}})
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantInBody) {
				t.Errorf("%s = %d %s; want %d containing %q", tt.method, rec.Code, rec.Body, tt.wantStatus, tt.wantInBody)
			}
			if rec.Code >= 400 {
				var ce ControlError
				if err := json.Unmarshal(rec.Body.Bytes(), &ce); err != nil || ce.Error == "" {
					t.Errorf("error body %s is not {\"error\":…}", rec.Body)
				}
			}
			if n := len(s.Faults()); n != tt.wantFaults {
				t.Errorf("%d faults installed, want %d", n, tt.wantFaults)
			}
		})
	}
}

func TestControlAPIRoundTrip(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	post := func(body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL+ControlPrefix+"faults", strings.NewReader(body))
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST = %d", resp.StatusCode)
		}
	}
	post(`{"kind":"status","status":503,"retry_after":"1m"}`)
	if resp, _ := get(t, s, PMVPath, nil); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "60" {
		t.Errorf("faulted GET = %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, body := get(t, s, ControlPrefix+"faults", nil)
	var listed []Fault
	if err := json.Unmarshal(body, &listed); err != nil || resp.StatusCode != 200 || len(listed) != 1 || listed[0].Status != 503 {
		t.Errorf("GET faults = %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL+ControlPrefix+"faults", nil)
	dresp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	dresp.Body.Close()
	if dresp.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE = %d", dresp.StatusCode)
	}
	if resp, _ := get(t, s, PMVPath, nil); resp.StatusCode != 200 {
		t.Errorf("after DELETE: %d", resp.StatusCode)
	}
	// Control requests are not recorded; the two GDMF GETs are.
	if n := len(s.Requests()); n != 2 {
		t.Errorf("recorded %d requests, want 2", n)
	}
}

func FuzzDecodeFaults(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"status","status":503,"retry_after":"30s"}`,
		`[{"kind":"latency","latency":"250ms"},{"kind":"malformed","probability":0.5,"count":3}]`,
		`{"kind":"stale","as_of":"2026-01-02T00:00:00Z"}`,
		`{"kind":"stale","stale_by":"72h"}`,
		`{"kind":"status","status":1e400}`,
		`[`, ``, `null`, `[null]`, `{"kind":"latency","latency":"-5s"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		faults, err := DecodeFaults(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidFault) {
				t.Fatalf("error %v does not wrap ErrInvalidFault", err)
			}
			return
		}
		for _, f := range faults {
			if err := f.Validate(); err != nil {
				t.Fatalf("decoded an invalid fault: %v", err)
			}
			if _, err := json.Marshal(f); err != nil {
				t.Fatal(err)
			}
		}
	})
}
