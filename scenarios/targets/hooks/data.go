package hooks

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/mdmsim/mdmsim/scenarios"
)

// Common is in every operation's template data.
type Common struct {
	// Env is the file's env, expanded.
	Env map[string]string
	// Name is the target's name.
	Name string
}

// PushCertData is the data of upload_push_cert.
type PushCertData struct {
	Common
	PushCertPEM, PushKeyPEM string
	Topic                   string
}

// Devices is in the data of every operation that acts on devices: the
// devices of one run (one batch).
type Devices struct {
	UDIDs    []string
	UDIDsCSV string
}

// EnqueueData is the data of enqueue.
type EnqueueData struct {
	Common
	Devices
	Command scenarios.Command
	// CommandPlist is Apple's command dictionary (XML plist);
	// CommandPlistBase64 the same, base64-encoded.
	CommandPlist       string
	CommandPlistBase64 string
}

// PushData is the data of push.
type PushData struct {
	Common
	Devices
}

// DeclarationData is the data of put_declaration, run once per declaration.
type DeclarationData struct {
	Common
	Declaration     scenarios.Declaration
	DeclarationJSON string
}

// AssignData is the data of assign.
type AssignData struct {
	Common
	Devices
	Group             string
	DeclarationIDs    []string
	DeclarationIDsCSV string
}

// UpdateData is the data of enforce_update.
type UpdateData struct {
	Common
	Devices
	// Version is empty for "the latest the device can take".
	Version string
	// Deadline is RFC 3339; DeadlineLocal the same instant as a local
	// date-time without zone (DDM's TargetLocalDateTime); DeadlineTime the
	// time.Time itself, for other layouts.
	Deadline      string
	DeadlineLocal string
	DeadlineTime  time.Time
	Method        string
}

func devices(udids []string) Devices {
	return Devices{UDIDs: udids, UDIDsCSV: strings.Join(udids, ",")}
}

// LocalLayout is the layout of DeadlineLocal.
const LocalLayout = "2006-01-02T15:04:05"

// funcs are the template functions besides text/template's own (which
// include urlquery, print, printf, index, len).
var funcs = template.FuncMap{
	"json":       jsonFunc,
	"base64":     base64Func,
	"join":       joinFunc,
	"pathescape": pathEscapeFunc,
	"shellquote": shellQuoteFunc,
}

func jsonFunc(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func base64Func(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return base64.StdEncoding.EncodeToString([]byte(x)), nil
	case []byte:
		return base64.StdEncoding.EncodeToString(x), nil
	}
	return "", fmt.Errorf("base64: want a string, have %T", v)
}

func joinFunc(list any, sep string) (string, error) {
	l, err := stringList("join", list)
	return strings.Join(l, sep), err
}

func stringList(fn string, v any) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return x, nil
	case string:
		return []string{x}, nil
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = fmt.Sprint(e)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want a string or a list of strings, have %T", fn, v)
}

// pathEscapeFunc escapes a string for a URL path segment, or each string
// of a list (join them afterwards).
func pathEscapeFunc(v any) (any, error) {
	if s, ok := v.(string); ok {
		return url.PathEscape(s), nil
	}
	l, err := stringList("pathescape", v)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = url.PathEscape(s)
	}
	return out, nil
}

// shellQuoteFunc quotes a string as one POSIX shell word, or a list as
// words separated by spaces.
func shellQuoteFunc(v any) (string, error) {
	l, err := stringList("shellquote", v)
	if err != nil {
		return "", err
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return strings.Join(out, " "), nil
}

// sample returns plausible data for op, to run every template once at
// load time: a misspelt field or a function used wrongly is then a load
// error with a line number, not a failure in the middle of a run.
func sample(op string, c Common) any {
	dev := devices([]string{"0000FE00-SAMPLE-UDID", "0000FE01-SAMPLE-UDID"})
	switch op {
	case opUploadPushCert:
		return PushCertData{Common: c, PushCertPEM: "-----BEGIN CERTIFICATE-----\n", PushKeyPEM: "-----BEGIN PRIVATE KEY-----\n", Topic: "com.apple.mgmt.sample"}
	case opEnqueue:
		cmd := scenarios.Command{UUID: "sample-uuid", RequestType: "DeviceInformation", Payload: map[string]any{"Queries": []any{"OSVersion"}}}
		return EnqueueData{Common: c, Devices: dev, Command: cmd, CommandPlist: "<plist/>", CommandPlistBase64: "PHBsaXN0Lz4="}
	case opPush:
		return PushData{Common: c, Devices: dev}
	case opPutDeclaration:
		d := scenarios.Declaration{Type: "com.apple.configuration.softwareupdate.enforcement.specific", Identifier: "sample", ServerToken: "1", Payload: map[string]any{"TargetOSVersion": "26.1"}}
		return DeclarationData{Common: c, Declaration: d, DeclarationJSON: `{"Identifier":"sample"}`}
	case opAssign:
		return AssignData{Common: c, Devices: dev, Group: "sample-group", DeclarationIDs: []string{"a", "b"}, DeclarationIDsCSV: "a,b"}
	case opEnforceUpdate:
		t := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		return updateData(c, dev, scenarios.UpdateRequest{Version: "26.1", Deadline: t, Method: scenarios.MethodDDM})
	}
	return c
}

func updateData(c Common, dev Devices, req scenarios.UpdateRequest) UpdateData {
	return UpdateData{Common: c, Devices: dev, Version: req.Version,
		Deadline: req.Deadline.Format(time.RFC3339), DeadlineLocal: req.Deadline.Format(LocalLayout),
		DeadlineTime: req.Deadline, Method: string(req.Method)}
}
