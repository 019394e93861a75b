package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
)

const examples = "../../../examples/targets"

// exampleCaps is what each example claims to offer; a new example must be
// added here.
var exampleCaps = map[string][]scenarios.Capability{
	"nanomdm-curl.yaml": {scenarios.CapCommands, scenarios.CapDeclarations},
	"http-generic.yaml": {scenarios.CapCommands, scenarios.CapDeclarations, scenarios.CapUpdatePolicy},
}

func TestExamplesLoad(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(examples, "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", examples, err)
	}
	for _, path := range files {
		f, err := Load(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		want, ok := exampleCaps[filepath.Base(path)]
		if !ok {
			t.Errorf("%s: not in exampleCaps: say what it offers", path)
			continue
		}
		if got := f.Capabilities(); !equal(got, want) {
			t.Errorf("%s: capabilities: have %v, want %v", path, got, want)
		}
		tg, err := f.newTarget()
		if err != nil {
			t.Fatal(err)
		}
		if got := scenarios.Capabilities(tg); !equal(got, want) {
			t.Errorf("%s: target capabilities: have %v, want %v", path, got, want)
		}
	}
}

// fakeNanoMDM answers NanoMDM's and KMFDDM's API paths the stock servers
// serve, with their authentication, and records what it was asked.
func fakeNanoMDM(t *testing.T, key string, prof []byte) *recorder {
	srv := newRecorder(t, false)
	srv.answer = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/mdm/enroll" {
			w.Write(prof)
			return true
		}
		user, pass, _ := r.BasicAuth()
		route := r.Method + " " + r.URL.Path
		var wantUser string
		switch {
		case route == "PUT /nanomdm/v1/pushcert":
			wantUser = "nanomdm"
			defer func() {
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(map[string]string{"topic": topic})
			}()
		case strings.HasPrefix(route, "PUT /nanomdm/v1/enqueue/"), strings.HasPrefix(route, "POST /nanomdm/v1/push/"):
			wantUser = "nanomdm"
			defer io.WriteString(w, `{"status":{}}`)
		case route == "PUT /kmfddm/v1/declarations":
			wantUser = "kmfddm"
			defer w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(route, "PUT /kmfddm/v1/set-declarations/") && r.URL.Query().Get("declaration") != "",
			strings.HasPrefix(route, "PUT /kmfddm/v1/enrollment-sets/") && r.URL.Query().Get("set") != "":
			wantUser = "kmfddm"
			defer w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "no route "+route, http.StatusNotFound)
			return true
		}
		if user != wantUser || pass != key {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return true
		}
		return true
	}
	return srv
}

func TestNanoMDMCurlExample(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	const key = "k3y 'with' $pecial"
	srv := fakeNanoMDM(t, key, profile(t, topic))
	t.Setenv("NANOMDM_API", srv.URL+"/nanomdm/v1")
	t.Setenv("KMFDDM_API", srv.URL+"/kmfddm/v1")
	t.Setenv("NANOMDM_API_KEY", key)
	t.Setenv("KMFDDM_API_KEY", "")
	t.Setenv("NANOMDM_PROFILE_URL", srv.URL+"/mdm/enroll")
	f, err := Load(filepath.Join(examples, "nanomdm-curl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tg, err := f.Open(ctx, newWorld(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	reqs := srv.take()
	if len(reqs) != 2 || reqs[0].Path != "/mdm/enroll" || reqs[1].Path != "/nanomdm/v1/pushcert" || reqs[1].Method != "PUT" ||
		!strings.Contains(reqs[1].Body, "-----BEGIN CERTIFICATE-----") || !strings.Contains(reqs[1].Body, "PRIVATE KEY-----") {
		t.Fatalf("Open: have %+v", reqs)
	}
	if e, _ := tg.Enrollment(ctx); e.ProfileURL != srv.URL+"/mdm/enroll" {
		t.Errorf("Enrollment: have %+v", e)
	}

	cmd := scenarios.Command{UUID: "cmd-1", RequestType: "DeviceInformation", Payload: map[string]any{"Queries": []any{"OSVersion"}}}
	body, _ := cmd.Plist()
	udids := []string{"UDID-1", "UDID 2"}
	if err := tg.Commands().Enqueue(ctx, udids, cmd); err != nil {
		t.Fatal(err)
	}
	if err := tg.Commands().Push(ctx, udids); err != nil {
		t.Fatal(err)
	}
	decl := scenarios.Declaration{Type: "com.apple.configuration.softwareupdate.enforcement.specific", Identifier: "upd 1",
		Payload: map[string]any{"TargetOSVersion": "26.1", "TargetLocalDateTime": "2030-01-02T03:04:05"}}
	if err := tg.Declarations().Put(ctx, decl); err != nil {
		t.Fatal(err)
	}
	if err := tg.Declarations().Assign(ctx, "wave 1", udids, "upd 1", "activation&x"); err != nil {
		t.Fatal(err)
	}
	declJSON, _ := json.Marshal(decl)
	n, d := func(r request) request { r.User, r.Pass = "nanomdm", key; return r }, func(r request) request { r.User, r.Pass = "kmfddm", key; return r }
	form := "application/x-www-form-urlencoded" // curl's default with --data-binary
	diffRequests(t, srv.take(), []request{
		n(request{Method: "PUT", Path: "/nanomdm/v1/enqueue/UDID-1,UDID%202", ContentType: form, Body: string(body)}),
		n(request{Method: "POST", Path: "/nanomdm/v1/push/UDID-1,UDID%202"}),
		d(request{Method: "PUT", Path: "/kmfddm/v1/declarations", ContentType: "application/json", Body: string(declJSON)}),
		d(request{Method: "PUT", Path: "/kmfddm/v1/set-declarations/wave%201?declaration=upd+1"}),
		d(request{Method: "PUT", Path: "/kmfddm/v1/set-declarations/wave%201?declaration=activation%26x"}),
		d(request{Method: "PUT", Path: "/kmfddm/v1/enrollment-sets/UDID-1?set=wave+1"}),
		d(request{Method: "PUT", Path: "/kmfddm/v1/enrollment-sets/UDID%202?set=wave+1"}),
	})

	// A wrong key fails with curl's exit code and message, and the line.
	t.Setenv("NANOMDM_API_KEY", "wrong")
	f, err = Load(filepath.Join(examples, "nanomdm-curl.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tg, err = f.newTarget() // not Open: no certificate to upload this time
	if err == nil {
		err = tg.Commands().Push(ctx, udids)
	}
	if err == nil || !strings.Contains(err.Error(), "nanomdm-curl.yaml:") || !strings.Contains(err.Error(), ": push: exit code 22: ") || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong key: have %v", err)
	}
	t.Logf("wrong key: %v", err)
}

func TestHTTPGenericExample(t *testing.T) {
	srv := newRecorder(t, false)
	srv.answer = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/api/v2/commands" {
			w.WriteHeader(http.StatusAccepted)
			return true
		}
		return false
	}
	t.Setenv("INHOUSE_API", srv.URL+"/api/v2")
	t.Setenv("INHOUSE_TOKEN", "tok")
	f, err := Load(filepath.Join(examples, "http-generic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tg, err := f.Open(ctx, newWorld(t))
	if err != nil {
		t.Fatal(err)
	}
	if r := srv.take(); len(r) != 1 || r[0].Path != "/api/v2/apns/certificate" || !strings.HasPrefix(r[0].Body, `{"topic": "com.apple.mgmt.External.inhouse", "certificate": "-----BEGIN`) {
		t.Fatalf("upload_push_cert: have %+v", r)
	}
	cmd := scenarios.Command{UUID: "c1", RequestType: "RestartDevice"}
	body, _ := cmd.Plist()
	deadline := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, err := range []error{
		tg.Commands().Enqueue(ctx, []string{"A"}, cmd),
		tg.Commands().Push(ctx, []string{"A", "B"}),
		tg.Declarations().Put(ctx, scenarios.Declaration{Type: "T", Identifier: "i/1", Payload: map[string]any{}}),
		tg.Declarations().Assign(ctx, "g", []string{"A"}, "i/1"),
		tg.UpdatePolicy().EnforceUpdate(ctx, scenarios.UpdateRequest{UDIDs: []string{"A"}, Version: "26.1", Deadline: deadline, Method: scenarios.MethodDDM}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	b := "Bearer tok"
	j := "application/json"
	diffRequests(t, srv.take(), []request{
		{Method: "POST", Path: "/api/v2/commands", Authorization: b, ContentType: j, Body: fmt.Sprintf(`{"devices": ["A"], "uuid": "c1", "plist": %q}`, b64(body))},
		{Method: "POST", Path: "/api/v2/devices/push?udids=A%2CB", Authorization: b},
		{Method: "PUT", Path: "/api/v2/declarations/i%2F1", Authorization: b, ContentType: j, Body: `{"Type":"T","Identifier":"i/1","Payload":{}}`},
		{Method: "PUT", Path: "/api/v2/groups/g/declarations", Authorization: b, ContentType: j, Body: `["i/1"]`},
		{Method: "POST", Path: "/api/v2/groups/g/members", Authorization: b, ContentType: j, Body: `["A"]`},
		{Method: "POST", Path: "/api/v2/software-updates", Authorization: b, ContentType: j,
			Body: `{"devices": ["A"], "version": "26.1", "deadline": "2030-01-02T03:04:05Z", "method": "ddm"}`},
	})
}

func b64(b []byte) string { s, _ := base64Func(b); return s }
