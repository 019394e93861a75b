package hooks

import (
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/micromdm/plist"

	"github.com/mdmsim/mdmsim/scenarios"
)

// profile is an unsigned enrollment profile for topic.
func profile(t testing.TB, topic string) []byte {
	t.Helper()
	b, err := plist.MarshalIndent(map[string]any{
		"PayloadType": "Configuration", "PayloadIdentifier": "test.enroll", "PayloadUUID": "E1", "PayloadVersion": 1,
		"PayloadContent": []any{
			map[string]any{"PayloadType": "com.apple.mdm", "PayloadIdentifier": "test.mdm", "PayloadUUID": "M1", "PayloadVersion": 1,
				"ServerURL": "https://mdm.example.com/mdm", "Topic": topic, "IdentityCertificateUUID": "S1", "SignMessage": true, "AccessRights": 8191},
			map[string]any{"PayloadType": "com.apple.security.scep", "PayloadIdentifier": "test.scep", "PayloadUUID": "S1", "PayloadVersion": 1,
				"PayloadContent": map[string]any{"URL": "https://mdm.example.com/scep", "Challenge": "c"}},
		},
	}, "\t")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// write writes files into a new directory and returns it.
func write(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// request is what the recording server saw.
type request struct {
	Method, Path, User, Pass, ContentType, Authorization, Body string
}

// recorder is an HTTP server that records requests and answers from
// answer (200 "{}" when nil).
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	answer func(w http.ResponseWriter, r *http.Request) bool
}

func newRecorder(t testing.TB, tls bool) *recorder {
	rec := &recorder{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, request{Method: r.Method, Path: r.URL.RequestURI(), User: user, Pass: pass,
			ContentType: r.Header.Get("Content-Type"), Authorization: authz(r), Body: string(body)})
		answer := rec.answer
		rec.mu.Unlock()
		if answer != nil && answer(w, r) {
			return
		}
		io.WriteString(w, "{}")
	})
	if tls {
		rec.Server = httptest.NewTLSServer(h)
	} else {
		rec.Server = httptest.NewServer(h)
	}
	t.Cleanup(rec.Close)
	return rec
}

// authz is the Authorization header unless it is basic auth (recorded apart).
func authz(r *http.Request) string {
	if _, _, ok := r.BasicAuth(); ok {
		return ""
	}
	return r.Header.Get("Authorization")
}

func (r *recorder) take() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// caPEM is the TLS server's certificate, as a ca_file.
func (r *recorder) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate().Raw})
}

func newWorld(t testing.TB) *scenarios.World {
	t.Helper()
	w, err := scenarios.NewWorld(scenarios.WorldConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func diffRequests(t testing.TB, have, want []request) {
	t.Helper()
	if len(have) != len(want) {
		t.Errorf("have %d requests, want %d", len(have), len(want))
	}
	for i := range max(len(have), len(want)) {
		var h, w request
		if i < len(have) {
			h = have[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if h != w {
			t.Errorf("request %d:\nhave %+v\nwant %+v", i, h, w)
		}
	}
}
