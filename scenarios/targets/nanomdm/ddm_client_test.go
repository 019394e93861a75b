package nanomdm_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// TestDDMClientRequests: every method sends what KMFDDM's API expects,
// and reads what it answers.
func TestDDMClientRequests(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	type answer struct {
		status int
		body   string
	}
	var mu sync.Mutex
	var got []request
	answers := map[string]answer{ // by "METHOD path?query"
		"PUT /v1/declarations":                                 {204, ""},
		"GET /v1/declarations/d%201":                           {200, `{"Identifier":"d 1","ServerToken":"t"}`},
		"DELETE /v1/declarations/d%201":                        {304, ""},
		"POST /v1/declarations/d%201/touch":                    {204, ""},
		"GET /v1/set-declarations/s":                           {200, `["keep","drop"]`},
		"PUT /v1/set-declarations/s?declaration=add":           {204, ""},
		"DELETE /v1/set-declarations/s?declaration=drop":       {204, ""},
		"PUT /v1/enrollment-sets/u1?set=s":                     {204, ""},
		"DELETE /v1/enrollment-sets/u1?set=s":                  {304, ""},
		"GET /v1/enrollment-sets/u1":                           {200, `["s"]`},
		"GET /v1/declaration-status/u1,u2":                     {200, `{"u1":[{"identifier":"d","active":true,"valid":"valid","current":true}]}`},
		"GET /v1/status-values/u1?prefix=.StatusItems.device.": {200, `{"u1":[{"path":".StatusItems.device.x","value":"1"}]}`},
		"GET /v1/status-report/u1?index=2":                     {200, `{"StatusItems":{}}`},
		"POST /v1/notify?declaration=d&id=u1&set=s":            {204, ""},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, User: u, Pass: p,
			ContentType: r.Header.Get("Content-Type"), Body: string(b)})
		mu.Unlock()
		key := r.Method + " " + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		a, ok := answers[key]
		if !ok {
			http.Error(w, "unexpected "+key, http.StatusTeapot)
			return
		}
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	c := nanomdm.NewDDMClient(srv.URL+"/v1", "key", srv.Client())

	changed, err := c.PutDeclaration(ctx, nanomdm.Declaration{Type: "com.apple.configuration.x", Identifier: "d 1", Payload: map[string]any{"A": 1}})
	if err != nil || !changed {
		t.Errorf("PutDeclaration: %v %v", changed, err)
	}
	if raw, err := c.GetDeclaration(ctx, "d 1"); err != nil || !strings.Contains(string(raw), `"ServerToken":"t"`) {
		t.Errorf("GetDeclaration: %s %v", raw, err)
	}
	if changed, err := c.DeleteDeclaration(ctx, "d 1"); err != nil || changed {
		t.Errorf("DeleteDeclaration (304): %v %v", changed, err)
	}
	if err := c.TouchDeclaration(ctx, "d 1"); err != nil {
		t.Error(err)
	}
	if err := c.SetDeclarations(ctx, "s", "keep", "add"); err != nil {
		t.Error(err)
	}
	if changed, err := c.PutEnrollmentSet(ctx, "u1", "s"); err != nil || !changed {
		t.Errorf("PutEnrollmentSet: %v %v", changed, err)
	}
	if changed, err := c.RemoveEnrollmentSet(ctx, "u1", "s"); err != nil || changed {
		t.Errorf("RemoveEnrollmentSet: %v %v", changed, err)
	}
	if sets, err := c.EnrollmentSets(ctx, "u1"); err != nil || len(sets) != 1 || sets[0] != "s" {
		t.Errorf("EnrollmentSets: %v %v", sets, err)
	}
	st, err := c.DeclarationStatus(ctx, "u1", "u2")
	if err != nil || len(st["u1"]) != 1 || !st["u1"][0].Current || st["u1"][0].Valid != "valid" {
		t.Errorf("DeclarationStatus: %+v %v", st, err)
	}
	vals, err := c.StatusValues(ctx, ".StatusItems.device.", "u1")
	if err != nil || len(vals["u1"]) != 1 || vals["u1"][0].Value != "1" {
		t.Errorf("StatusValues: %+v %v", vals, err)
	}
	if rep, err := c.StatusReport(ctx, "u1", 2); err != nil || string(rep) != `{"StatusItems":{}}` {
		t.Errorf("StatusReport: %s %v", rep, err)
	}
	if err := c.Notify(ctx, []string{"d"}, []string{"s"}, []string{"u1"}); err != nil {
		t.Error(err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, r := range got {
		if r.User != "kmfddm" || r.Pass != "key" {
			t.Errorf("%s %s as %s/%s", r.Method, r.Path, r.User, r.Pass)
		}
	}
	if got[0].ContentType != "application/json" || got[0].Body != `{"Type":"com.apple.configuration.x","Identifier":"d 1","Payload":{"A":1}}` {
		t.Errorf("PutDeclaration sent %+v", got[0])
	}
	var setCalls []string
	for _, r := range got {
		if strings.Contains(r.Path, "/set-declarations/") {
			setCalls = append(setCalls, r.Method+" "+r.RawQuery)
		}
	}
	// Added before removed: the set is never empty on the way.
	if want := "GET |PUT declaration=add|DELETE declaration=drop"; strings.Join(setCalls, "|") != want {
		t.Errorf("SetDeclarations: have %q, want %q", strings.Join(setCalls, "|"), want)
	}
}

func TestDDMClientErrors(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newFakeAPI(t, 401, "Unauthorized")
	_, err := nanomdm.NewDDMClient(f.URL+"/v1", "wrong", f.Client()).PutDeclarationJSON(ctx, []byte(`{}`))
	if !errors.Is(err, nanomdm.ErrUnauthorized) || !strings.HasPrefix(err.Error(), "kmfddm API: PUT /v1/declarations: HTTP 401 Unauthorized") {
		t.Errorf("have %v", err)
	}
	f = newFakeAPI(t, 500, `{"error":"empty index"}`)
	var apiErr *nanomdm.APIError
	if _, err := nanomdm.NewDDMClient(f.URL+"/v1", "k", f.Client()).StatusReport(ctx, "u", 0); !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
		t.Errorf("have %v", err)
	}
	f = newFakeAPI(t, 200, `{"u1":"not a list"}`)
	if _, err := nanomdm.NewDDMClient(f.URL+"/v1", "k", f.Client()).DeclarationStatus(ctx, "u1"); !errors.As(err, &apiErr) || apiErr.Err == nil {
		t.Errorf("garbage: have %v", err)
	}
	f = newFakeAPI(t, 200, `["a",`)
	if err := nanomdm.NewDDMClient(f.URL+"/v1", "k", f.Client()).SetDeclarations(ctx, "s", "a"); err == nil {
		t.Error("garbage set list: no error")
	}
}
