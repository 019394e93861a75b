package nanomdm_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// request is what a fake server saw of one request.
type request struct {
	Method, Path, RawQuery string
	User, Pass             string
	ContentType            string
	Body                   string
}

// fakeAPI is an httptest server that records requests and answers with
// the status and body the test sets.
type fakeAPI struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	status int
	body   string
}

func newFakeAPI(t *testing.T, status int, body string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{status: status, body: body}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u, p, _ := r.BasicAuth()
		f.mu.Lock()
		f.got = append(f.got, request{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			User: u, Pass: p, ContentType: r.Header.Get("Content-Type"), Body: string(b)})
		status, body := f.status, f.body
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.got...)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientRequests(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)

	t.Run("pushcert", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 200, `{"topic":"com.apple.mgmt.External.x","not_after":"2030-01-01T00:00:00Z"}`)
		c := nanomdm.NewClient(f.URL+"/v1/", "key", f.Client())
		topic, err := c.UploadPushCert(ctx, []byte("CERT"), []byte("KEY"))
		if err != nil || topic != "com.apple.mgmt.External.x" {
			t.Fatalf("have %q, %v", topic, err)
		}
		want := request{Method: "PUT", Path: "/v1/pushcert", User: "nanomdm", Pass: "key", Body: "CERT\nKEY"}
		if got := f.requests(); len(got) != 1 || got[0] != want {
			t.Errorf("have %+v, want %+v", got, want)
		}
	})

	t.Run("pushcert without topic", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 200, `{}`)
		if _, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).UploadPushCert(ctx, nil, nil); err == nil {
			t.Error("no topic: no error")
		}
	})

	t.Run("enqueue", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 200, `{"status":{"a b":{"push_result":"p1"},"c":{"push_result":"p2"}},"command_uuid":"u","request_type":"DeviceLock"}`)
		c := nanomdm.NewClient(f.URL+"/v1", "key", f.Client())
		res, err := c.Enqueue(ctx, []string{"a b", "c"}, []byte("<plist/>"), false)
		if err != nil || res.Status["a b"].PushResult != "p1" || res.CommandUUID != "u" || res.RequestType != "DeviceLock" {
			t.Fatalf("have %+v, %v", res, err)
		}
		if _, err := c.Enqueue(ctx, []string{"d"}, []byte("<plist/>"), true); err != nil {
			t.Fatal(err)
		}
		got := f.requests()
		want := []request{
			{Method: "PUT", Path: "/v1/enqueue/a%20b,c", User: "nanomdm", Pass: "key", Body: "<plist/>"},
			{Method: "PUT", Path: "/v1/enqueue/d", RawQuery: "nopush=1", User: "nanomdm", Pass: "key", Body: "<plist/>"},
		}
		if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("have %+v, want %+v", got, want)
		}
		if _, err := c.Enqueue(ctx, nil, []byte("<plist/>"), false); err == nil {
			t.Error("no IDs: no error")
		}
	})

	t.Run("enqueue partial failure", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, http.StatusMultiStatus, `{"status":{"a":{"push_result":"p"},"b":{"push_error":"BadDeviceToken"}}}`)
		res, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).Enqueue(ctx, []string{"a", "b"}, []byte("x"), false)
		if err != nil || res.Status["b"].PushError != "BadDeviceToken" {
			t.Errorf("207: have %+v, %v", res, err)
		}
	})

	t.Run("push batches", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 200, `{"status":{"x":{"push_result":"p"}}}`)
		ids := make([]string, 2500)
		for i := range ids {
			ids[i] = "id"
		}
		res, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).Push(ctx, ids)
		if err != nil || res.Status["x"].PushResult != "p" {
			t.Fatalf("have %+v, %v", res, err)
		}
		got := f.requests()
		if len(got) != 3 {
			t.Fatalf("have %d requests, want 3", len(got))
		}
		for i, n := range []int{1000, 1000, 500} {
			if got[i].Method != "POST" || !strings.HasPrefix(got[i].Path, "/v1/push/") ||
				strings.Count(strings.TrimPrefix(got[i].Path, "/v1/push/"), ",")+1 != n || got[i].Body != "" {
				t.Errorf("request %d: %+v", i, got[i])
			}
		}
	})
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)

	t.Run("401", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 401, "Unauthorized\n")
		_, err := nanomdm.NewClient(f.URL+"/v1", "wrong", f.Client()).UploadPushCert(ctx, nil, nil)
		var apiErr *nanomdm.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || !errors.Is(err, nanomdm.ErrUnauthorized) {
			t.Fatalf("have %v", err)
		}
		if want := "nanomdm API: PUT /v1/pushcert: HTTP 401 Unauthorized: Unauthorized"; err.Error() != want {
			t.Errorf("have %q, want %q", err, want)
		}
	})

	t.Run("403", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 403, "")
		_, err := nanomdm.NewClient(f.URL+"/v1", "wrong", f.Client()).Push(ctx, []string{"a"})
		if !errors.Is(err, nanomdm.ErrUnauthorized) {
			t.Errorf("have %v", err)
		}
	})

	t.Run("500 with JSON", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 500, `{"push_error":"no push cert","status":{"a":{"push_error":"boom"}}}`)
		res, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).Enqueue(ctx, []string{"a"}, []byte("x"), false)
		var apiErr *nanomdm.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || errors.Is(err, nanomdm.ErrUnauthorized) {
			t.Fatalf("have %v", err)
		}
		if res == nil || res.PushError != "no push cert" || res.Status["a"].PushError != "boom" {
			t.Errorf("result %+v: the server's explanation is lost", res)
		}
		if !strings.Contains(err.Error(), "HTTP 500 Internal Server Error: {\"push_error\"") {
			t.Errorf("message %q", err)
		}
	})

	t.Run("500 with garbage", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 500, "\x00\x01<html>oops\n\x1b[31m")
		res, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).Enqueue(ctx, []string{"a"}, []byte("x"), false)
		var apiErr *nanomdm.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || res == nil {
			t.Fatalf("have %+v, %v", res, err)
		}
		if strings.ContainsAny(err.Error(), "\x00\x01\x1b\n") {
			t.Errorf("control characters in %q", err)
		}
	})

	t.Run("garbage JSON on 200", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{`{"status":`, `[1,2,3]`, `{"status":{"a":7}}`, `"just a string"`, "\xff\xfe"} {
			f := newFakeAPI(t, 200, body)
			_, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).Push(ctx, []string{"a"})
			var apiErr *nanomdm.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 200 || apiErr.Err == nil {
				t.Errorf("%q: have %v, want a decode error", body, err)
			}
		}
	})

	t.Run("huge body", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			chunk := []byte(strings.Repeat(" ", 1<<20))
			for range 80 { // 80 MiB of blanks, more than any answer may be
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		t.Cleanup(srv.Close)
		_, err := nanomdm.NewClient(srv.URL+"/v1", "key", srv.Client()).Push(ctx, []string{"a"})
		var apiErr *nanomdm.APIError
		if !errors.As(err, &apiErr) || !strings.Contains(err.Error(), "larger than") || len(err.Error()) > 2048 {
			t.Errorf("have %.300v", err)
		}
	})

	t.Run("long error body and path are cut", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 502, strings.Repeat("x", 10000))
		ids := make([]string, 500)
		for i := range ids {
			ids[i] = "00000000-0000-0000-0000-000000000000"
		}
		_, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).Enqueue(ctx, ids, []byte("x"), false)
		if err == nil || len(err.Error()) > 1024 || !strings.HasSuffix(err.Error(), "…") {
			t.Errorf("message of %d bytes: %.200v", len(err.Error()), err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = nanomdm.NewClient("http://"+addr+"/v1", "key", nil).Push(ctx, []string{"a"})
		var apiErr *nanomdm.APIError
		if !errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &apiErr) {
			t.Errorf("have %v, want ECONNREFUSED and no APIError", err)
		}
		if !strings.HasPrefix(err.Error(), "nanomdm API: POST /v1/push/a: ") {
			t.Errorf("message %q", err)
		}
	})

	t.Run("untrusted TLS", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(srv.Close)
		_, err := nanomdm.NewClient(srv.URL+"/v1", "key", &http.Client{}).Push(ctx, []string{"a"})
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("have %v, want a *tls.CertificateVerificationError", err)
		}
	})

	t.Run("context", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, 200, `{}`)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := nanomdm.NewClient(f.URL+"/v1", "key", f.Client()).Push(cctx, []string{"a"}); !errors.Is(err, context.Canceled) {
			t.Errorf("have %v", err)
		}
	})
}

// TestAPIErrorMessage: a status Go has no text for still reads well.
func TestAPIErrorMessage(t *testing.T) {
	t.Parallel()
	e := &nanomdm.APIError{API: "nanomdm API", Method: "PUT", Path: "/v1/x", StatusCode: 599, Status: "599", Body: []byte(" hi ")}
	if want := "nanomdm API: PUT /v1/x: HTTP 599: hi"; e.Error() != want {
		t.Errorf("have %q, want %q", e, want)
	}
	wrapped := &nanomdm.APIError{API: "a", Method: "GET", Path: "/", StatusCode: 200, Status: "200 OK", Err: json.Unmarshal([]byte("{"), new(any))}
	var se *json.SyntaxError
	if !errors.As(wrapped, &se) {
		t.Errorf("%v does not unwrap to its cause", wrapped)
	}
}
