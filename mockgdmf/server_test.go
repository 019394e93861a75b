package mockgdmf

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// snapshotDay is the date of the newest real GDMF answer in the catalog.
var snapshotDay = time.Date(2026, 8, 22, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock for WithNow.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(append([]Option{WithNow(func() time.Time { return snapshotDay })}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

// serve sends a request straight to the handler (no network).
func serve(s *Server, method, path, body string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func get(t *testing.T, s *Server, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestTLSAndCertificates(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	resp, body := get(t, s, PMVPath, nil)
	if resp.StatusCode != http.StatusOK || len(body) == 0 {
		t.Fatalf("GET = %d, %d bytes", resp.StatusCode, len(body))
	}
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Errorf("URL = %q", s.URL)
	}
	// A client that does not trust the CA fails.
	plain := &http.Client{Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	if _, err := plain.Get(s.URL + PMVPath); err == nil {
		t.Error("an untrusting client reached the server")
	}
	ca := s.Certificate()
	if !ca.IsCA {
		t.Error("Certificate is not a CA")
	}
	block, _ := pem.Decode(s.CACertPEM())
	if block == nil || block.Type != "CERTIFICATE" || !slices.Equal(block.Bytes, ca.Raw) {
		t.Error("CACertPEM does not hold Certificate")
	}
	// localhost is covered too.
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	resp2, err := s.Client().Get("https://localhost:" + port + PMVPath)
	if err != nil {
		t.Fatalf("GET via localhost: %v", err)
	}
	resp2.Body.Close()
}

func TestListenerOptions(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, WithListener(l))
	if s.Listener != l || !strings.HasSuffix(s.URL, l.Addr().String()[len("127.0.0.1"):]) {
		t.Errorf("WithListener not used: %s vs %s", s.URL, l.Addr())
	}
	s2 := newServer(t, WithAddr("127.0.0.1:0"), WithHosts("gdmf.example.test"))
	if resp, _ := get(t, s2, PMVPath, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("WithAddr server answered %d", resp.StatusCode)
	}
	leaf := s2.srv.TLSConfig.Certificates[0].Leaf
	if !slices.Contains(leaf.DNSNames, "gdmf.example.test") {
		t.Errorf("WithHosts name missing: %v", leaf.DNSNames)
	}
	// An unstarted server can be closed; Close twice is harmless.
	u := NewUnstartedServer()
	u.Close()
	u.Close()
}

func TestETag(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: snapshotDay}
	c := catalog.Default()
	s := newServer(t, WithCatalog(c), WithNow(clock.Now))
	resp, body := get(t, s, PMVPath, nil)
	tag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || tag == "" || !strings.HasPrefix(tag, `"`) {
		t.Fatalf("first GET = %d, ETag %q", resp.StatusCode, tag)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	tests := []struct {
		ifNoneMatch string
		want        int
	}{
		{tag, http.StatusNotModified},
		{"W/" + tag, http.StatusNotModified},
		{`"other", ` + tag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"other"`, http.StatusOK},
		{"", http.StatusOK},
	}
	for _, tt := range tests {
		resp, b := get(t, s, PMVPath, http.Header{"If-None-Match": {tt.ifNoneMatch}})
		if resp.StatusCode != tt.want {
			t.Errorf("If-None-Match %q: status %d, want %d", tt.ifNoneMatch, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusNotModified && len(b) != 0 {
			t.Errorf("304 with a body")
		}
		if tt.want == http.StatusOK && string(b) != string(body) {
			t.Errorf("body changed without a change in the catalog")
		}
	}
	// HEAD: headers, no body.
	rec := serve(s, http.MethodHead, PMVPath, "", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("ETag") != tag || rec.Body.Len() != 0 {
		t.Errorf("HEAD = %d, ETag %q, %d bytes", rec.Code, rec.Header().Get("ETag"), rec.Body.Len())
	}
	// A timeline event changes the answer and so the tag.
	c.Post(catalog.Release{Platform: catalog.MacOS, ProductVersion: "26.7", Build: "25H30", Public: true,
		SupportedDevices: []string{"J413AP"}}, snapshotDay.Add(time.Hour))
	if resp, _ := get(t, s, PMVPath, http.Header{"If-None-Match": {tag}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("answer changed before the posting time: %d", resp.StatusCode)
	}
	clock.Set(snapshotDay.Add(2 * time.Hour))
	resp, _ = get(t, s, PMVPath, http.Header{"If-None-Match": {tag}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == tag {
		t.Errorf("after Post: status %d, ETag %q (old %q)", resp.StatusCode, resp.Header.Get("ETag"), tag)
	}
}

func TestTimelineThroughServer(t *testing.T) {
	t.Parallel()
	day0 := time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: day0}
	c := catalog.Default()
	s := newServer(t, WithCatalog(c), WithNow(clock.Now))
	c.Post(catalog.Release{Platform: catalog.MacOS, ProductVersion: "26.7", Build: "25H30", Public: true,
		SupportedDevices: []string{"J413AP", "J274AP"}}, day0.Add(3*24*time.Hour))
	c.Expire(catalog.MacOS, "25G83", day0.Add(10*24*time.Hour))
	builds := func() (public, assets []string) {
		var doc catalog.Document
		rec := serve(s, http.MethodGet, PMVPath, "", nil)
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		for _, a := range doc.PublicAssetSets[catalog.MacOS] {
			public = append(public, a.Build)
		}
		for _, a := range doc.AssetSets[catalog.MacOS] {
			assets = append(assets, a.Build)
		}
		return public, assets
	}
	tests := []struct {
		day                  int
		want26_7, want26_6_2 bool
	}{
		{0, false, true},
		{2, false, true},
		{3, true, true},
		{9, true, true},
		{10, true, false},
	}
	for _, tt := range tests {
		clock.Set(day0.Add(time.Duration(tt.day) * 24 * time.Hour))
		public, assets := builds()
		if got := slices.Contains(assets, "25H30"); got != tt.want26_7 {
			t.Errorf("day %d: 26.7 listed = %v, want %v", tt.day, got, tt.want26_7)
		}
		if got := slices.Contains(assets, "25G83"); got != tt.want26_6_2 {
			t.Errorf("day %d: 26.6.2 listed = %v, want %v", tt.day, got, tt.want26_6_2)
		}
		// 26.6.2 stays public (for the Macs 26.7 was not posted for)
		// until it expires; 26.7 is public from its posting.
		if got := slices.Contains(public, "25G83"); got != tt.want26_6_2 {
			t.Errorf("day %d: 26.6.2 public = %v, want %v", tt.day, got, tt.want26_6_2)
		}
		if got := slices.Contains(public, "25H30"); got != tt.want26_7 {
			t.Errorf("day %d: 26.7 public = %v, want %v", tt.day, got, tt.want26_7)
		}
	}
}

func TestRequestsRecorded(t *testing.T) {
	t.Parallel()
	s := newServer(t, WithRequestLimit(3))
	get(t, s, PMVPath+"?x=1", http.Header{"User-Agent": {"test-mdm/1.0"}})
	get(t, s, "/nope", nil)
	get(t, s, ControlPrefix+"requests", nil) // not recorded
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("recorded %d requests, want 2: %+v", len(reqs), reqs)
	}
	r := reqs[0]
	if r.Method != http.MethodGet || r.Path != PMVPath || r.Query != "x=1" || r.Status != http.StatusOK ||
		!r.Time.Equal(snapshotDay) || r.Header.Get("User-Agent") != "test-mdm/1.0" || !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
		t.Errorf("recorded %+v", r)
	}
	if reqs[1].Status != http.StatusNotFound {
		t.Errorf("unknown path recorded with status %d", reqs[1].Status)
	}
	// Requests returns copies.
	reqs[0].Header.Set("User-Agent", "changed")
	if s.Requests()[0].Header.Get("User-Agent") != "test-mdm/1.0" {
		t.Error("Requests exposes the recorded headers")
	}
	// The limit drops the oldest.
	for range 3 {
		serve(s, http.MethodGet, PMVPath, "", nil)
	}
	if got := s.Requests(); len(got) != 3 || got[0].Path != PMVPath || got[0].Query != "" {
		t.Errorf("after the limit: %+v", got)
	}
	// Over the control API.
	rec := serve(s, http.MethodGet, ControlPrefix+"requests", "", nil)
	var listed []Request
	if err := json.Unmarshal(rec.Body.Bytes(), &listed); err != nil || len(listed) != 3 {
		t.Errorf("GET /_mock/requests = %d %v: %s", rec.Code, err, rec.Body)
	}
	if rec := serve(s, http.MethodDelete, ControlPrefix+"requests", "", nil); rec.Code != http.StatusNoContent {
		t.Errorf("DELETE /_mock/requests = %d", rec.Code)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests after DELETE", n)
	}
	serve(s, http.MethodGet, PMVPath, "", nil)
	s.Reset()
	if rec := serve(s, http.MethodGet, ControlPrefix+"requests", "", nil); strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("after Reset: %s", rec.Body)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, PMVPath, http.StatusOK},
		{http.MethodPost, PMVPath, http.StatusMethodNotAllowed},
		{http.MethodDelete, PMVPath, http.StatusMethodNotAllowed},
		{http.MethodGet, "/v2/pmv/extra", http.StatusNotFound},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, ControlPrefix + "other", http.StatusNotFound},
		{http.MethodPut, ControlPrefix + "faults", http.StatusMethodNotAllowed},
		{http.MethodPost, ControlPrefix + "requests", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		if rec := serve(s, tt.method, tt.path, "", nil); rec.Code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	catFile := dir + "/pmv.json"
	data, err := catalog.Snapshot("pmv-2025-10-21.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile(catFile, data); err != nil {
		t.Fatal(err)
	}
	caFile := dir + "/ca.pem"
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", CatalogFile: catFile, CAOut: caFile,
			Now: func() time.Time { return time.Date(2025, 10, 22, 0, 0, 0, 0, time.UTC) }},
			func(u string) { urls <- u })
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	}
	client, err := clientTrusting(caFile)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(url + PMVPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc catalog.Document
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || len(doc.AssetSets[catalog.MacOS]) != 18 {
		t.Errorf("served catalog: %v, %d macOS assets (want the file's 18)", err, len(doc.AssetSets[catalog.MacOS]))
	}
	client.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}

	bad := []Config{
		{},
		{Listen: "nonsense"},
		{Listen: "127.0.0.1:0", CatalogFile: dir + "/missing.json"},
		{Listen: "127.0.0.1:0", CatalogFile: caFile}, // not JSON
		{Listen: "127.0.0.1:0", CAOut: dir + "/no/such/dir/ca.pem"},
	}
	for _, cfg := range bad {
		if err := Run(context.Background(), cfg, nil); err == nil {
			t.Errorf("Run(%+v) succeeded", cfg)
		}
	}
	if err := (Config{Listen: "127.0.0.1:8443"}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
