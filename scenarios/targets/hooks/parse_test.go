package hooks

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
)

const header = `kind: hooks
name: t
enrollment:
  profile_url: https://mdm.example.com/enroll
env: {API: "http://127.0.0.1:9000/v1"}
`

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, yaml, want string
	}{
		{"yaml syntax", "kind: hooks\nname: t\n  x: y\n", "target.yaml:3: mapping values are not allowed in this context"},
		{"yaml tab", "kind: hooks\n\tname: t\n", "target.yaml:2: found a tab character that violates indentation"},
		{"empty", "", "target.yaml:1: empty file"},
		{"not a mapping", "- a\n", "target.yaml:1: want a mapping"},
		{"wrong kind", "kind: nanomdm\n", `target.yaml:1: kind: want "hooks", have "nanomdm"`},
		{"missing kind", "name: t\n", "target.yaml:1: missing field kind"},
		{"missing name", "kind: hooks\nenrollment: {profile_url: https://x}\n", "target.yaml:1: missing field name"},
		{"unknown top field", "kind: hooks\nname: t\nenrolment: {}\n", `target.yaml:3: unknown field "enrolment"`},
		{"duplicate field", "kind: hooks\nname: t\nname: u\n", `target.yaml:3: field "name" given twice`},
		{"no profile", "kind: hooks\nname: t\nenrollment:\n  poll_interval: 10s\n", "target.yaml:4: enrollment: missing profile_url or profile_file"},
		{"both profiles", "kind: hooks\nname: t\nenrollment:\n  profile_url: https://x/e\n  profile_file: e.mobileconfig\n", "target.yaml:4: enrollment: give profile_url or profile_file, not both"},
		{"bad profile url", "kind: hooks\nname: t\nenrollment:\n  profile_url: ftp://x/e\n", `target.yaml:4: enrollment.profile_url: want an http:// or https:// URL, have "ftp://x/e"`},
		{"bad poll interval", "kind: hooks\nname: t\nenrollment:\n  profile_url: https://x\n  poll_interval: 10 seconds\n", `target.yaml:5: enrollment.poll_interval: want a duration such as 30s or 2m, have "10 seconds"`},
		{"negative poll interval", "kind: hooks\nname: t\nenrollment:\n  profile_url: https://x\n  poll_interval: -1s\n", "target.yaml:5: enrollment.poll_interval: must not be negative"},
		{"zero timeout", header + "timeout: 0\n", "target.yaml:6: timeout: must be positive"},
		{"bad env name", "kind: hooks\nname: t\nenrollment: {profile_url: https://x}\nenv: {1X: a}\n", `target.yaml:4: env: "1X" is not a variable name`},
		{"bad env expansion", "kind: hooks\nname: t\nenrollment: {profile_url: https://x}\nenv:\n  A: ${B\n", "target.yaml:5: env.A: unclosed ${"},
		{"unknown operation", header + "operations:\n  enque:\n    shell: true\n", `target.yaml:7: operations: unknown field "enque"`},
		{"unknown step field", header + "operations:\n  enqueue:\n    http:\n      url: https://x\n      bdy: x\n", `target.yaml:10: operations.enqueue.http: unknown field "bdy"`},
		{"neither shell nor http", header + "operations:\n  enqueue:\n    batch: 3\n", "target.yaml:8: operations.enqueue: want shell or http"},
		{"shell and http", header + "operations:\n  enqueue:\n    shell: x\n    http: {url: https://x}\n", "target.yaml:8: operations.enqueue: give shell or http, not both"},
		{"stdin with http", header + "operations:\n  enqueue:\n    http: {url: https://x}\n    stdin: x\n", "target.yaml:9: operations.enqueue: stdin goes with shell"},
		{"template syntax", header + "operations:\n  enqueue:\n    shell: echo {{.UDIDs\n", "target.yaml:8: operations.enqueue.shell: template: shell:1: unclosed action"},
		{"template field", header + "operations:\n  enqueue:\n    shell: echo {{.Comand.UUID}}\n", `target.yaml:8: operations.enqueue.shell: template: shell:1:14: executing "shell" at <.Comand.UUID>: can't evaluate field Comand`},
		{"template env key", header + "operations:\n  push:\n    shell: echo {{.Env.APII}}\n  enqueue: {shell: x}\n", `target.yaml:8: operations.push.shell: template: shell:1:11: executing "shell" at <.Env.APII>: map has no entry for key "APII"`},
		{"field of another operation", header + "operations:\n  push:\n    shell: echo {{.Command.UUID}}\n", `can't evaluate field Command in type hooks.PushData`},
		{"unknown function", header + "operations:\n  enqueue:\n    shell: echo {{quote .UDIDsCSV}}\n", `target.yaml:8: operations.enqueue.shell: template: shell:1: function "quote" not defined`},
		{"url renders badly", header + "operations:\n  enqueue:\n    http: {url: \"{{.UDIDsCSV}}/x\"}\n", `target.yaml:8: operations.enqueue.http.url: want an http:// or https:// URL`},
		{"missing url", header + "operations:\n  enqueue:\n    http: {method: PUT}\n", "target.yaml:8: operations.enqueue.http: missing field url"},
		{"bad method", header + "operations:\n  enqueue:\n    http: {method: put, url: https://x}\n", `target.yaml:8: operations.enqueue.http.method: "put" is not an HTTP method`},
		{"bad status", header + "operations:\n  enqueue:\n    http: {url: https://x, expect_status: [200, 99]}\n", "target.yaml:8: operations.enqueue.http.expect_status: want a number from 100 to 599, have 99"},
		{"basic auth without user", header + "operations:\n  enqueue:\n    http: {url: https://x, basic_auth: {password: p}}\n", "target.yaml:8: operations.enqueue.http.basic_auth: missing field user"},
		{"batch not a number", header + "operations:\n  enqueue:\n    shell: x\n    batch: many\n", `target.yaml:9: operations.enqueue.batch: want a whole number, have "many"`},
		{"batch zero", header + "operations:\n  enqueue:\n    shell: x\n    batch: 0\n", "target.yaml:9: operations.enqueue.batch: want a number from 1"},
		{"batch without devices", header + "operations:\n  put_declaration:\n    shell: x\n    batch: 5\n", "target.yaml:9: operations.put_declaration: batch: put_declaration acts on no devices"},
		{"step timeout", header + "operations:\n  enqueue:\n    shell: x\n    timeout: soon\n", `target.yaml:9: operations.enqueue.timeout: want a duration`},
		{"empty step list", header + "operations:\n  enqueue: []\n", "target.yaml:7: operations.enqueue: no steps"},
		{"bad step in list", header + "operations:\n  enqueue:\n    - shell: x\n    - shel: y\n", `target.yaml:9: operations.enqueue[1]: unknown field "shel"`},
		{"push without enqueue", header + "operations:\n  push: {shell: x}\n", "target.yaml:7: operations: push needs enqueue"},
		{"half a declaration channel", header + "operations:\n  assign: {shell: x}\n", "target.yaml:7: operations: put_declaration and assign go together"},
		{"alias", header + "x: &a 1\n", `target.yaml:6: unknown field "x"`},
		{"alias value", header + "operations:\n  enqueue: &s {shell: x}\n  push: *s\n", "target.yaml:8: operations.push: aliases (*name) are not supported"},
		{"runaway template", header + "operations:\n  enqueue: {shell: '{{range 2000000}}xx{{end}}'}\n", "writes more than 1048576 bytes over sample data"},
		{"empty shell", header + "operations:\n  enqueue: {shell: \"\"}\n", "target.yaml:7: operations.enqueue.shell: must not be empty"},
		{"shell not a string", header + "operations:\n  enqueue: {shell: [a]}\n", "target.yaml:7: operations.enqueue.shell: want a string, have a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse("target.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse: have %+v, want an error containing %q", f, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error:\nhave %q\nwant it to contain %q", err, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "target.yaml" || pe.Line < 1 {
				t.Errorf("have %T %+v, want a *ParseError with file and line", err, err)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	t.Setenv("HOOKS_TEST_KEY", "s3cret")
	t.Setenv("HOOKS_TEST_EMPTY", "")
	src := `kind: hooks
name: srv
enrollment:
  profile_file: enroll.mobileconfig
  ca_file: /etc/ca.pem
  poll_interval: 0
env:
  KEY: ${HOOKS_TEST_KEY}
  LITERAL: a$b$
  DEF: ${HOOKS_TEST_EMPTY:-${HOOKS_TEST_KEY}-x}
  UNSET: ${HOOKS_TEST_UNSET_FOR_SURE}
timeout: 5s
operations:
  enqueue:
    - shell: echo
      timeout: 1s
      batch: 10
    - http: {url: "https://x/{{.Command.UUID}}", body: x, expect_status: 202}
  enforce_update:
    http: {method: PATCH, url: https://x}
`
	f, err := Parse("dir/t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := map[string]string{"KEY": "s3cret", "LITERAL": "a$b$", "DEF": "s3cret-x", "UNSET": ""}
	for k, v := range wantEnv {
		if f.Env[k] != v {
			t.Errorf("env %s: have %q, want %q", k, f.Env[k], v)
		}
	}
	if f.Enrollment.ProfileFile != "dir/enroll.mobileconfig" || f.Enrollment.CAFile != "/etc/ca.pem" || f.Timeout != 5*time.Second {
		t.Errorf("have %+v timeout %v", f.Enrollment, f.Timeout)
	}
	op := f.Operations["enqueue"]
	if op == nil || len(op.Steps) != 2 || op.Line != 14 || op.Steps[0].Line != 15 || op.Steps[0].Batch != 10 || op.Steps[0].Timeout != time.Second {
		t.Fatalf("enqueue: have %+v", op)
	}
	h := op.Steps[1].HTTP
	if h.Method != "POST" || len(h.ExpectStatus) != 1 || h.ExpectStatus[0] != 202 {
		t.Errorf("http step: have %+v", h)
	}
	if got, want := f.Capabilities(), []scenarios.Capability{scenarios.CapCommands, scenarios.CapUpdatePolicy}; !equal(got, want) {
		t.Errorf("capabilities: have %v, want %v", got, want)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTemplateFuncs(t *testing.T) {
	t.Parallel()
	tests := []struct{ tmpl, want string }{
		{`{{json .Command}}`, `{"UUID":"u-1","RequestType":"DeviceLock","Payload":{"PIN":"1234"}}`},
		{`{{json .UDIDs}}`, `["A B","it's"]`},
		{`{{base64 .CommandPlist}}`, "PHBsaXN0Lz4="},
		{`{{join .UDIDs ";"}}`, "A B;it's"},
		{`{{join (pathescape .UDIDs) ","}}`, "A%20B,it%27s"},
		{`{{pathescape "a/b c"}}`, "a%2Fb%20c"},
		{`{{urlquery "a&b c"}}`, "a%26b+c"},
		{`{{shellquote .UDIDs}}`, `'A B' 'it'\''s'`},
		{`{{shellquote "$(rm -rf /)"}}`, `'$(rm -rf /)'`},
		{`{{.UDIDsCSV}}|{{.CommandPlistBase64}}|{{.Env.API}}|{{.Name}}`, "A B,it's|PHBsaXN0Lz4=|v|n"},
	}
	data := EnqueueData{Common: Common{Env: map[string]string{"API": "v"}, Name: "n"}, Devices: devices([]string{"A B", "it's"}),
		Command:      scenarios.Command{UUID: "u-1", RequestType: "DeviceLock", Payload: map[string]any{"PIN": "1234"}},
		CommandPlist: "<plist/>", CommandPlistBase64: "PHBsaXN0Lz4="}
	for _, tt := range tests {
		src := header + "operations:\n  enqueue:\n    shell: " + quoteYAML(tt.tmpl) + "\n"
		f, err := Parse("t.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		got, err := render(f.Operations["enqueue"].Steps[0].Shell, data)
		if err != nil || got != tt.want {
			t.Errorf("%s: have %q, %v; want %q", tt.tmpl, got, err, tt.want)
		}
	}
}

func quoteYAML(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestExpand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "1", "E": ""}
	get := func(k string) string { return env[k] }
	for in, want := range map[string]string{
		"x${A}y": "x1y", "${E:-d}": "d", "${A:-d}": "1", "${N:-${A}${A}}": "11", "$A ${": "", "$$": "$$", "${N}": "",
	} {
		got, err := expand(in, get)
		if in == "$A ${" {
			if err == nil {
				t.Errorf("%q: want an error", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: have %q, %v; want %q", in, got, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(header + "operations:\n  enqueue:\n    shell: echo {{shellquote .UDIDs}}\n    batch: 2\n"))
	f.Add([]byte(header + "operations:\n  enqueue:\n    - http: {url: \"{{.Env.API}}/x\", headers: {A: b}, basic_auth: {user: u}, expect_status: [200]}\n"))
	f.Add([]byte("kind: hooks\nname: x\nenrollment: {profile_url: https://x, poll_interval: 1s}\nenv: {A: \"${B:-${C}}\"}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fl, err := Parse("fuzz.yaml", data)
		if err != nil {
			var pe *ParseError
			if errors.As(err, &pe) && pe.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		if fl.Name == "" || fl.Timeout <= 0 || (fl.Enrollment.ProfileURL == "") == (fl.Enrollment.ProfileFile == "") {
			t.Fatalf("accepted an invalid file: %+v", fl)
		}
		for _, op := range fl.Operations {
			for _, s := range op.Steps {
				if (s.Shell == nil) == (s.HTTP == nil) {
					t.Fatalf("step with neither or both: %+v", s)
				}
			}
		}
	})
}
