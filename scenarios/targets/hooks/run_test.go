package hooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
)

const topic = "com.apple.mgmt.External.hooks-test"

func TestHTTPOperations(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, true)
	dir := write(t, map[string][]byte{"ca.pem": srv.caPEM(), "enroll.mobileconfig": profile(t, topic), "t.yaml": []byte(`kind: hooks
name: http-test
enrollment:
  profile_file: enroll.mobileconfig
  ca_file: ca.pem
  poll_interval: 45s
env: {API: "` + srv.URL + `/v1", KEY: "k&y"}
operations:
  upload_push_cert:
    http: {method: PUT, url: "{{.Env.API}}/pushcert", basic_auth: {user: nanomdm, password: "{{.Env.KEY}}"}, body: "{{.Topic}}|{{slice .PushCertPEM 0 27}}|{{slice .PushKeyPEM 0 11}}"}
  enqueue:
    http:
      method: PUT
      url: "{{.Env.API}}/enqueue/{{.UDIDsCSV}}?uuid={{urlquery .Command.UUID}}"
      headers: {content-type: application/x-apple-plist}
      basic_auth: {user: nanomdm, password: "{{.Env.KEY}}"}
      body: "{{.Command.RequestType}}:{{len .CommandPlist}}:{{slice .CommandPlistBase64 0 8}}"
    batch: 2
  push:
    http: {method: POST, url: "{{.Env.API}}/push/{{join (pathescape .UDIDs) \",\"}}", headers: {Authorization: "Bearer {{.Env.KEY}}"}}
  put_declaration:
    http: {method: PUT, url: "{{.Env.API}}/declarations", body: "{{.DeclarationJSON}}", expect_status: [200, 204]}
  assign:
    - http: {method: PUT, url: "{{.Env.API}}/sets/{{.Group}}", body: "{{json .DeclarationIDs}}"}
    - http: {method: PUT, url: "{{.Env.API}}/members/{{.Group}}", body: "{{.UDIDsCSV}}"}
      batch: 1
  enforce_update:
    http: {url: "{{.Env.API}}/update", body: "{{.Version}} {{.Deadline}} {{.DeadlineLocal}} {{.Method}} {{.UDIDsCSV}}"}
`)})
	f, err := Load(filepath.Join(dir, "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tg, err := f.Open(ctx, newWorld(t))
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	diffRequests(t, srv.take(), []request{{Method: "PUT", Path: "/v1/pushcert", User: "nanomdm", Pass: "k&y",
		Body: topic + "|-----BEGIN CERTIFICATE-----|-----BEGIN "}})

	e, err := tg.Enrollment(ctx)
	if err != nil || string(e.Profile) != string(profile(t, topic)) || e.ProfileURL != "" || len(e.Roots) != 1 || e.PollInterval != 45*time.Second {
		t.Errorf("Enrollment: have %+v, %v", e, err)
	}
	if got, want := scenarios.Capabilities(tg), []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations, scenarios.CapUpdatePolicy}; !equal(got, want) {
		t.Errorf("capabilities: have %v, want %v", got, want)
	}

	cmd := scenarios.Command{UUID: "c 1", RequestType: "DeviceInformation"}
	plistBody, _ := cmd.Plist()
	if err := tg.Commands().Enqueue(ctx, []string{"U1", "U2", "U3"}, cmd); err != nil {
		t.Fatal(err)
	}
	b64 := "PD94bWwg" // "<?xml "
	wantBody := fmt.Sprintf("DeviceInformation:%d:%s", len(plistBody), b64)
	diffRequests(t, srv.take(), []request{
		{Method: "PUT", Path: "/v1/enqueue/U1,U2?uuid=c+1", User: "nanomdm", Pass: "k&y", ContentType: "application/x-apple-plist", Body: wantBody},
		{Method: "PUT", Path: "/v1/enqueue/U3?uuid=c+1", User: "nanomdm", Pass: "k&y", ContentType: "application/x-apple-plist", Body: wantBody},
	})

	if err := tg.Commands().Push(ctx, []string{"U 1", "U2"}); err != nil {
		t.Fatal(err)
	}
	diffRequests(t, srv.take(), []request{{Method: "POST", Path: "/v1/push/U%201,U2", Authorization: "Bearer k&y"}})

	decl := scenarios.Declaration{Type: "com.apple.configuration.management.test", Identifier: "d1", Payload: map[string]any{"Echo": "hi"}}
	if err := tg.Declarations().Put(ctx, decl, decl); err != nil {
		t.Fatal(err)
	}
	dj := `{"Type":"com.apple.configuration.management.test","Identifier":"d1","Payload":{"Echo":"hi"}}`
	diffRequests(t, srv.take(), []request{{Method: "PUT", Path: "/v1/declarations", Body: dj}, {Method: "PUT", Path: "/v1/declarations", Body: dj}})

	if err := tg.Declarations().Assign(ctx, "g", []string{"U1", "U2"}, "d1", "d2"); err != nil {
		t.Fatal(err)
	}
	diffRequests(t, srv.take(), []request{
		{Method: "PUT", Path: "/v1/sets/g", Body: `["d1","d2"]`},
		{Method: "PUT", Path: "/v1/members/g", Body: "U1"},
		{Method: "PUT", Path: "/v1/members/g", Body: "U2"},
	})

	deadline := time.Date(2031, 5, 6, 7, 8, 9, 0, time.FixedZone("X", 3600))
	if err := tg.UpdatePolicy().EnforceUpdate(ctx, scenarios.UpdateRequest{UDIDs: []string{"U1"}, Version: "26.2", Deadline: deadline, Method: scenarios.MethodDDM}); err != nil {
		t.Fatal(err)
	}
	diffRequests(t, srv.take(), []request{{Method: "POST", Path: "/v1/update", Body: "26.2 2031-05-06T07:08:09+01:00 2031-05-06T07:08:09 ddm U1"}})

	// No devices, no request.
	if err := tg.Commands().Enqueue(ctx, nil, cmd); err != nil {
		t.Fatal(err)
	}
	if err := tg.UpdatePolicy().EnforceUpdate(ctx, scenarios.UpdateRequest{}); err != nil {
		t.Fatal(err)
	}
	diffRequests(t, srv.take(), nil)
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, false)
	srv.answer = func(w http.ResponseWriter, r *http.Request) bool {
		switch r.URL.Path {
		case "/denied":
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, "bad key")
		case "/big":
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, strings.Repeat("x", 10000))
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/slow":
			<-r.Context().Done()
		default:
			return false
		}
		return true
	}
	src := "kind: hooks\nname: e\nenrollment: {profile_url: https://x}\nenv: {API: " + srv.URL + "}\noperations:\n"
	tests := []struct {
		name, op string
		want     OpError
		wantMsg  string
	}{
		{"401", "http: {url: '{{.Env.API}}/denied?key=secret'}", OpError{Line: 7, Status: 401, Output: "bad key"},
			"hooks: e.yaml:7: enqueue: HTTP 401 Unauthorized: GET " + srv.URL + "/denied: bad key"},
		{"body bounded", "http: {url: '{{.Env.API}}/big'}", OpError{Line: 7, Status: 500, Output: strings.Repeat("x", MaxOutput)}, ""},
		{"unexpected 201", "http: {url: '{{.Env.API}}/created', expect_status: 200}", OpError{Line: 7, Status: 201}, "HTTP 201 Created"},
		{"expected 201", "http: {url: '{{.Env.API}}/created', expect_status: [200, 201]}", OpError{}, ""},
		{"timeout", "http: {url: '{{.Env.API}}/slow'}\n    timeout: 50ms", OpError{Line: 7}, "enqueue: timed out after 50ms"},
		{"second step", "\n    - http: {url: '{{.Env.API}}/ok'}\n    - http: {url: '{{.Env.API}}/denied'}", OpError{Line: 9, Status: 401, Output: "bad key"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse("e.yaml", []byte(src+"  enqueue:\n    "+tt.op+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			tg, err := f.Open(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = tg.Commands().Enqueue(context.Background(), []string{"U1"}, scenarios.Command{UUID: "u", RequestType: "DeviceInformation"})
			if tt.want.Line == 0 {
				if err != nil {
					t.Fatalf("have %v, want success", err)
				}
				return
			}
			var oe *OpError
			if !errors.As(err, &oe) {
				t.Fatalf("have %T %v, want an *OpError", err, err)
			}
			if oe.File != "e.yaml" || oe.Op != "enqueue" || oe.Line != tt.want.Line || oe.Status != tt.want.Status || oe.Output != tt.want.Output {
				t.Errorf("have %+v, want %+v", oe, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q: want it to contain %q (and no query)", err, tt.wantMsg)
			}
			if tt.name == "timeout" && !errors.Is(err, ErrTimeout) {
				t.Errorf("have %v, want ErrTimeout", err)
			}
		})
	}
}

func TestShellOperations(t *testing.T) {
	t.Parallel()
	dir := write(t, map[string][]byte{"ca.pem": newRecorder(t, true).caPEM(), "t.yaml": []byte(`kind: hooks
name: sh
enrollment: {profile_url: "https://mdm.example.com/enroll", ca_file: ca.pem}
env: {KEY: "it's $ecret"}
operations:
  enqueue:
    shell: |
      printf '%s|' {{shellquote .UDIDs}} "$KEY" "$MDMSIM_CA_FILE" >> enqueue.log
      cat >> enqueue.log
      echo >> enqueue.log
    stdin: "{{.Command.RequestType}} {{.Command.UUID}}"
    batch: 2
  push:
    shell: echo "push failed for {{.UDIDsCSV}}" >&2; exit 3
  put_declaration:
    shell: "head -c 10000 /dev/zero | tr '\\0' y; exit 1"
  assign:
    shell: "true"
`)})
	f, err := Load(filepath.Join(dir, "t.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := f.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := tg.Commands().Enqueue(ctx, []string{"A", "B C", "D'E"}, scenarios.Command{UUID: "u1", RequestType: "DeviceLock"}); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(dir, "enqueue.log"))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	want := "A|B C|it's $ecret|" + ca + "|DeviceLock u1\nD'E|it's $ecret|" + ca + "|DeviceLock u1\n"
	if string(log) != want {
		t.Errorf("enqueue.log:\nhave %q\nwant %q", log, want)
	}

	err = tg.Commands().Push(ctx, []string{"A", "B"})
	var oe *OpError
	if !errors.As(err, &oe) || oe.ExitCode != 3 || oe.Line != 14 || oe.Output != "push failed for A,B\n" {
		t.Fatalf("push: have %#v", err)
	}
	if msg := "hooks: " + filepath.Join(dir, "t.yaml") + ":14: push: exit code 3: push failed for A,B"; err.Error() != msg {
		t.Errorf("have %q, want %q", err, msg)
	}

	err = tg.Declarations().Put(ctx, scenarios.Declaration{Identifier: "d"})
	if !errors.As(err, &oe) || oe.ExitCode != 1 || !strings.HasPrefix(oe.Output, strings.Repeat("y", MaxOutput)+"…") || len(oe.Output) > MaxOutput+64 {
		t.Errorf("put_declaration: output not bounded: have %d bytes, %v", len(oe.Output), err)
	}
}

func TestShellTimeout(t *testing.T) {
	t.Parallel()
	f, err := Parse(filepath.Join(t.TempDir(), "t.yaml"), []byte(header+`timeout: 100ms
operations:
  enqueue:
    shell: echo started; sleep 30 & sleep 30; wait
`))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := f.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = tg.Commands().Enqueue(context.Background(), []string{"A"}, scenarios.Command{UUID: "u", RequestType: "DeviceLock"})
	var oe *OpError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &oe) || oe.Output != "started\n" {
		t.Fatalf("have %#v, want a timeout", err)
	}
	if !strings.Contains(err.Error(), "enqueue: timed out after 100ms: started") {
		t.Errorf("have %q", err)
	}

	// The caller's cancellation is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = tg.Commands().Enqueue(ctx, []string{"A"}, scenarios.Command{UUID: "u", RequestType: "DeviceLock"})
	if err == nil || errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled: have %v", err)
	}
}

func TestBatching(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, false)
	f, err := Parse("b.yaml", []byte(`kind: hooks
name: b
enrollment: {profile_url: "https://x"}
env: {API: "`+srv.URL+`"}
operations:
  enqueue:
    - http: {url: "{{.Env.API}}/one/{{.UDIDsCSV}}"}
    - http: {url: "{{.Env.API}}/two/{{.UDIDsCSV}}"}
      batch: 2
  enforce_update:
    http: {url: "{{.Env.API}}/u/{{len .UDIDs}}"}
    batch: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := f.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Commands().Enqueue(context.Background(), []string{"a", "b", "c", "d", "e"}, scenarios.Command{UUID: "u", RequestType: "X"}); err != nil {
		t.Fatal(err)
	}
	diffRequests(t, srv.take(), []request{{Method: "GET", Path: "/one/a,b,c,d,e"}, {Method: "GET", Path: "/two/a,b"}, {Method: "GET", Path: "/two/c,d"}, {Method: "GET", Path: "/two/e"}})
	if err := tg.UpdatePolicy().EnforceUpdate(context.Background(), scenarios.UpdateRequest{UDIDs: []string{"a", "b", "c"}}); err != nil {
		t.Fatal(err)
	}
	diffRequests(t, srv.take(), []request{{Method: "GET", Path: "/u/3"}})
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	ops := map[string]string{
		"enqueue": "  enqueue: {shell: 'true'}\n", "push": "  push: {shell: 'true'}\n",
		"put_declaration": "  put_declaration: {shell: 'true'}\n", "assign": "  assign: {shell: 'true'}\n",
		"enforce_update": "  enforce_update: {shell: 'true'}\n",
	}
	tests := []struct {
		ops  []string
		want []scenarios.Capability
	}{
		{nil, nil},
		{[]string{"enqueue"}, []scenarios.Capability{scenarios.CapCommands}},
		{[]string{"enqueue", "push"}, []scenarios.Capability{scenarios.CapCommands}},
		{[]string{"put_declaration", "assign"}, []scenarios.Capability{scenarios.CapDeclarations}},
		{[]string{"enforce_update"}, []scenarios.Capability{scenarios.CapUpdatePolicy}},
		{[]string{"enqueue", "push", "put_declaration", "assign", "enforce_update"}, []scenarios.Capability{scenarios.CapCommands, scenarios.CapDeclarations, scenarios.CapUpdatePolicy}},
	}
	for _, tt := range tests {
		src := header + "operations:\n"
		if len(tt.ops) == 0 {
			src = header
		}
		for _, op := range tt.ops {
			src += ops[op]
		}
		f, err := Parse("c.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		tg, err := f.Open(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := scenarios.Capabilities(tg); !equal(got, tt.want) || !equal(f.Capabilities(), tt.want) {
			t.Errorf("%v: have %v (file %v), want %v", tt.ops, got, f.Capabilities(), tt.want)
		}
		if err := scenarios.Require(tg, scenarios.CapServerView); err == nil {
			t.Errorf("%v: a hooks target has no server view", tt.ops)
		}
		if c := tg.Commands(); c != nil {
			err := c.Push(context.Background(), []string{"A"})
			if hasPush := f.Has("push"); hasPush == errors.Is(err, scenarios.ErrUnsupported) || (hasPush && err != nil) {
				t.Errorf("%v: Push: have %v", tt.ops, err)
			}
		}
		e, _ := tg.Enrollment(context.Background())
		if e.ProfileURL != "https://mdm.example.com/enroll" || e.Profile != nil || e.Roots != nil {
			t.Errorf("Enrollment: have %+v", e)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	up := "operations:\n  upload_push_cert: {shell: 'true'}\n"
	srv := newRecorder(t, false)
	srv.answer = func(w http.ResponseWriter, r *http.Request) bool { w.WriteHeader(404); return true }
	dir := write(t, map[string][]byte{"bad.pem": []byte("not a certificate"), "bad.mobileconfig": []byte("<plist/>")})
	tests := []struct{ name, src, want string }{
		{"no world", header + up, "upload_push_cert needs a world"},
		{"profile url fails", "kind: hooks\nname: t\nenrollment: {profile_url: '" + srv.URL + "/enroll'}\n" + up, "HTTP 404"},
		{"missing ca file", "kind: hooks\nname: t\nenrollment: {profile_url: https://x, ca_file: nope.pem}\n", "ca_file"},
		{"bad ca file", "kind: hooks\nname: t\nenrollment: {profile_url: https://x, ca_file: bad.pem}\n", "no PEM certificate"},
		{"bad profile", "kind: hooks\nname: t\nenrollment: {profile_file: bad.mobileconfig}\n", "profile_file"},
	}
	for _, tt := range tests {
		f, err := Parse(filepath.Join(dir, "t.yaml"), []byte(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		var w *scenarios.World
		if tt.name != "no world" {
			w = newWorld(t)
		}
		if _, err := f.Open(context.Background(), w); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: have %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
