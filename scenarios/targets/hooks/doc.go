// Package hooks is the target adapter for an MDM server that has no Go
// adapter (Fleet, Jamf, Kandji, an in-house one): a YAML file says how a
// device enrolls and which shell commands or HTTP requests make the server
// act.
//
//	kind: hooks                        # required
//	name: my-server                    # required, for reports
//	enrollment:                        # required
//	  profile_url: https://mdm.example.com/enroll   # or profile_file (one of the two)
//	  profile_file: ./enroll.mobileconfig           # relative to the target file
//	  ca_file: ./ca.pem                # roots for the profile, SCEP, check-ins and the HTTP steps
//	  topic: com.apple.mgmt.X          # push topic for upload_push_cert; default: the profile's
//	  poll_interval: 0                 # >0: devices poll (pushes cannot reach the mock APNs)
//	env: {API: "${API_URL:-http://127.0.0.1:9000/v1}", KEY: "${API_KEY}"}
//	timeout: 30s                       # per run of a step; default 30s
//	operations:
//	  enqueue:
//	    shell: curl -fsS -u "api:$KEY" --data-binary @- {{shellquote (print .Env.API "/enqueue")}}
//	    stdin: "{{.CommandPlist}}"
//	    batch: 100
//	  push:
//	    http: {method: POST, url: "{{.Env.API}}/push/{{.UDIDsCSV}}", basic_auth: {user: api, password: "{{.Env.KEY}}"}}
//
// # Operations
//
// An operation is one step or a list of steps run in order. A step is a
// shell command or an HTTP request:
//
//	shell: <template>     # run with sh -c in the target file's directory
//	stdin: <template>     # optional, shell only
//	http:
//	  method: PUT         # default GET, or POST with a body
//	  url: <template>     # must render to an http(s) URL
//	  headers: {Name: <template>}
//	  basic_auth: {user: <template>, password: <template>}
//	  body: <template>
//	  expect_status: 201  # or [200, 204]; default any 2xx
//	timeout: 10s          # overrides the file's
//	batch: 100            # split the devices: one run per 100 UDIDs
//
// The operations and their template data (every one also has .Env, the
// file's env, and .Name, the target's name):
//
//	upload_push_cert  .PushCertPEM .PushKeyPEM .Topic           run once by Open
//	enqueue           .UDIDs .UDIDsCSV .Command (.UUID .RequestType .Payload)
//	                  .CommandPlist .CommandPlistBase64
//	push              .UDIDs .UDIDsCSV
//	put_declaration   .Declaration (.Type .Identifier .ServerToken .Payload)
//	                  .DeclarationJSON                          run once per declaration
//	assign            .Group .UDIDs .UDIDsCSV .DeclarationIDs .DeclarationIDsCSV
//	enforce_update    .UDIDs .UDIDsCSV .Version .Deadline (RFC 3339)
//	                  .DeadlineLocal (2006-01-02T15:04:05) .DeadlineTime .Method (ddm, legacy)
//
// A channel exists only when its operations are given: commands with
// enqueue (push optional: without it Commands.Push returns
// scenarios.ErrUnsupported), declarations with put_declaration and assign
// (both or neither), the update policy with enforce_update. enqueue is
// expected to push the devices itself, as NanoMDM's API does; push is not
// run after it. An operation on devices asked for none does not run
// (assign still runs once, to fill the group).
//
// # Templates
//
// Templates are Go text/template with the functions json (a value as JSON
// text), base64, join (join LIST SEP), pathescape (a string or each of a
// list), shellquote (a string, or a list as words, as POSIX shell words)
// and text/template's own (urlquery, print, printf, index, len, ...).
// Values are inserted raw: a shell template must wrap what it pastes in
// shellquote, a URL in pathescape or urlquery, a JSON body in json. The
// file's env is also exported to shell steps ("$KEY"), with the process
// environment and MDMSIM_CA_FILE (the absolute ca_file), which is the
// simplest way to keep quoting right. Every template runs once over sample
// data at load time, so a misspelt field (.Comand) or env key
// (.Env.APII) fails the load with its line number.
//
// # Environment
//
// env values and the enrollment settings expand ${VAR} from the process
// environment when the file is parsed (empty when unset) and
// ${VAR:-default} (the default may hold ${...}). Nothing else is
// expanded: a lone $ stays. Templates are not expanded this way; they read
// .Env.
//
// # Errors
//
// Load and Parse return a *ParseError for a mistake in the file
// ("target.yaml:12: operations.enqueue.http: unknown field "bdy"");
// unknown and repeated fields, anchors and aliases are mistakes. A failed
// step returns an *OpError naming the operation, the line of the step,
// the exit code or HTTP status, and the first 4 KiB of the output or
// response body. A step that runs out of time is killed (with the
// processes it started) and its OpError wraps ErrTimeout.
package hooks
