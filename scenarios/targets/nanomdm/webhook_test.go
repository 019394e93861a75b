package nanomdm_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/micromdm/nanomdm/mdm"
	nanowebhook "github.com/micromdm/nanomdm/service/webhook"

	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// Bodies NanoMDM v0.9.0's webhook service emits, from its own test data
// (service/webhook/testdata): an Authenticate check-in and a
// DeviceInformation command report.
const recordedAuthenticate = `{"checkin_event":{"ids":{"id":"66ADE930-5FDF-5EC4-8429-15640684C489","type":"Device"},"raw_payload":"PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPCFET0NUWVBFIHBsaXN0IFBVQkxJQyAiLS8vQXBwbGUvL0RURCBQTElTVCAxLjAvL0VOIiAiaHR0cDovL3d3dy5hcHBsZS5jb20vRFREcy9Qcm9wZXJ0eUxpc3QtMS4wLmR0ZCI+CjxwbGlzdCB2ZXJzaW9uPSIxLjAiPgo8ZGljdD4KCTxrZXk+QnVpbGRWZXJzaW9uPC9rZXk+Cgk8c3RyaW5nPjE2RzIxMzY8L3N0cmluZz4KCTxrZXk+Q2hhbGxlbmdlPC9rZXk+Cgk8ZGF0YT4KCVlYQndiR1U9Cgk8L2RhdGE+Cgk8a2V5PkRldmljZU5hbWU8L2tleT4KCTxzdHJpbmc+RnJ1aXQ8L3N0cmluZz4KCTxrZXk+TWVzc2FnZVR5cGU8L2tleT4KCTxzdHJpbmc+QXV0aGVudGljYXRlPC9zdHJpbmc+Cgk8a2V5Pk1vZGVsPC9rZXk+Cgk8c3RyaW5nPmlNYWMxNCwyPC9zdHJpbmc+Cgk8a2V5Pk1vZGVsTmFtZTwva2V5PgoJPHN0cmluZz5pTWFjPC9zdHJpbmc+Cgk8a2V5Pk9TVmVyc2lvbjwva2V5PgoJPHN0cmluZz4xMC4xMi42PC9zdHJpbmc+Cgk8a2V5PlByb2R1Y3ROYW1lPC9rZXk+Cgk8c3RyaW5nPmlNYWMxNCwyPC9zdHJpbmc+Cgk8a2V5PlNlcmlhbE51bWJlcjwva2V5PgoJPHN0cmluZz5DMDJNVDY2S0ZMSEg8L3N0cmluZz4KCTxrZXk+VG9waWM8L2tleT4KCTxzdHJpbmc+Y29tLmFwcGxlLm1nbXQuRXh0ZXJuYWwuZTBiZDFlYWMtMWYxNy00YzhlLThhNjMtZGQxN2QzZGQzNWQ5PC9zdHJpbmc+Cgk8a2V5PlVESUQ8L2tleT4KCTxzdHJpbmc+NjZBREU5MzAtNUZERi01RUM0LTg0MjktMTU2NDA2ODRDNDg5PC9zdHJpbmc+CjwvZGljdD4KPC9wbGlzdD4K","udid":"66ADE930-5FDF-5EC4-8429-15640684C489"},"created_at":"0001-01-01T00:00:00Z","event_id":"test_event_id","topic":"mdm.Authenticate"}`

const recordedConnect = `{"acknowledge_event":{"command_uuid":"76eda240-5488-4989-8339-f2ae160113c4","ids":{"id":"66ADE930-5FDF-5EC4-8429-15640684C489","type":"Device"},"raw_payload":"PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPCFET0NUWVBFIHBsaXN0IFBVQkxJQyAiLS8vQXBwbGUvL0RURCBQTElTVCAxLjAvL0VOIiAiaHR0cDovL3d3dy5hcHBsZS5jb20vRFREcy9Qcm9wZXJ0eUxpc3QtMS4wLmR0ZCI+CjxwbGlzdCB2ZXJzaW9uPSIxLjAiPgo8ZGljdD4KCTxrZXk+Q29tbWFuZFVVSUQ8L2tleT4KCTxzdHJpbmc+NzZlZGEyNDAtNTQ4OC00OTg5LTgzMzktZjJhZTE2MDExM2M0PC9zdHJpbmc+Cgk8a2V5PlF1ZXJ5UmVzcG9uc2VzPC9rZXk+Cgk8ZGljdD4KCQk8a2V5Pkhvc3ROYW1lPC9rZXk+CgkJPHN0cmluZz5mcnVpdC5leGFtcGxlLmNvbTwvc3RyaW5nPgoJCTxrZXk+VURJRDwva2V5PgoJCTxzdHJpbmc+NjZBREU5MzAtNUZERi01RUM0LTg0MjktMTU2NDA2ODRDNDg5PC9zdHJpbmc+Cgk8L2RpY3Q+Cgk8a2V5PlJlcXVlc3RUeXBlPC9rZXk+Cgk8c3RyaW5nPkRldmljZUluZm9ybWF0aW9uPC9zdHJpbmc+Cgk8a2V5PlN0YXR1czwva2V5PgoJPHN0cmluZz5BY2tub3dsZWRnZWQ8L3N0cmluZz4KCTxrZXk+VURJRDwva2V5PgoJPHN0cmluZz42NkFERTkzMC01RkRGLTVFQzQtODQyOS0xNTY0MDY4NEM0ODk8L3N0cmluZz4KPC9kaWN0Pgo8L3BsaXN0PgoK","status":"Acknowledged","udid":"66ADE930-5FDF-5EC4-8429-15640684C489"},"created_at":"0001-01-01T00:00:00Z","event_id":"test_event_id","topic":"mdm.Connect"}`

func newWebhook(t *testing.T, opts nanomdm.WebhookOptions) *nanomdm.Webhook {
	t.Helper()
	w, err := nanomdm.NewWebhook(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	resp, err := http.Post(url, nanowebhook.ContentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWebhookRecordedBodies: the bodies NanoMDM's own tests record are
// decoded, counted and kept.
func TestWebhookRecordedBodies(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []nanomdm.Event
	w := newWebhook(t, nanomdm.WebhookOptions{OnEvent: func(e nanomdm.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if !strings.HasPrefix(w.URL(), "http://127.0.0.1:") || !strings.HasSuffix(w.URL(), nanomdm.WebhookPath) {
		t.Errorf("URL %q", w.URL())
	}
	for _, b := range []string{recordedAuthenticate, recordedConnect} {
		if code := post(t, w.URL(), b); code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
	}
	const udid = "66ADE930-5FDF-5EC4-8429-15640684C489"
	if st, ok := w.CommandStatus(udid, "76eda240-5488-4989-8339-f2ae160113c4"); !ok || st != "Acknowledged" {
		t.Errorf("CommandStatus: %q %v", st, ok)
	}
	if _, ok := w.CommandStatus(udid, "other"); ok {
		t.Error("CommandStatus of a command never seen")
	}
	if w.Seen() != 2 || w.Errors() != 0 || w.Count(nanomdm.TopicAuthenticate) != 1 || w.Count(nanomdm.TopicConnect) != 1 {
		t.Errorf("seen %d, errors %d, topics %v", w.Seen(), w.Errors(), w.Topics())
	}
	if w.Enrolled(udid) {
		t.Error("enrolled after Authenticate alone")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 {
		t.Fatalf("OnEvent saw %d events", len(events))
	}
	e := events[1]
	if e.Topic != nanomdm.TopicConnect || e.UDID != udid || e.ID != udid || e.IDType != "Device" || e.EventID != "test_event_id" ||
		e.Status != "Acknowledged" || !bytes.Contains(e.Raw, []byte("<string>DeviceInformation</string>")) {
		t.Errorf("event %+v", e)
	}
}

// TestWebhookFromNanoMDM: NanoMDM's own webhook service posts to the
// listener, HMAC-signed, for a device's life: enrollment, command reports
// (the last status per command wins), a user channel, check-out.
func TestWebhookFromNanoMDM(t *testing.T) {
	t.Parallel()
	key := []byte("s3cret")
	w := newWebhook(t, nanomdm.WebhookOptions{HMACSecret: key})
	svc := nanowebhook.New(w.URL(), nanowebhook.WithHMACSecret(key))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const udid = "0000FE00-5FDF-5EC4-8429-15640684C489"
	dev := mdm.NewRequestWithContext(ctx, nil)
	dev.EnrollID = &mdm.EnrollID{Type: mdm.Device, ID: udid}
	enr := mdm.Enrollment{UDID: udid}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Wait wakes on the event.
	done := make(chan error, 1)
	go func() { done <- w.Wait(ctx, func() bool { return w.Enrolled(udid) }) }()

	must(svc.Authenticate(dev, &mdm.Authenticate{Enrollment: enr, Raw: []byte("<plist>auth</plist>")}))
	must(svc.TokenUpdate(dev, &mdm.TokenUpdate{Enrollment: enr, Raw: []byte("<plist>tu</plist>")}))
	if err := <-done; err != nil || !w.Enrolled(udid) {
		t.Fatalf("after TokenUpdate: enrolled %v, wait %v", w.Enrolled(udid), err)
	}

	_, err := svc.CommandAndReportResults(dev, &mdm.CommandResults{Enrollment: enr, Status: "Idle"})
	must(err)
	_, err = svc.CommandAndReportResults(dev, &mdm.CommandResults{Enrollment: enr, CommandUUID: "c1", Status: "NotNow"})
	must(err)
	if st, _ := w.CommandStatus(udid, "c1"); st != "NotNow" {
		t.Errorf("c1: %q", st)
	}
	_, err = svc.CommandAndReportResults(dev, &mdm.CommandResults{Enrollment: enr, CommandUUID: "c1", Status: "Acknowledged"})
	must(err)
	if st, _ := w.CommandStatus(udid, "c1"); st != "Acknowledged" {
		t.Errorf("c1 after its retry: %q", st)
	}

	// A user channel's TokenUpdate and CheckOut say nothing of the device.
	user := mdm.NewRequestWithContext(ctx, nil)
	user.EnrollID = &mdm.EnrollID{Type: mdm.User, ID: udid + ":501", ParentID: udid}
	userEnr := mdm.Enrollment{UDID: udid, UserID: "501"}
	must(svc.TokenUpdate(user, &mdm.TokenUpdate{Enrollment: userEnr}))
	must(svc.CheckOut(user, &mdm.CheckOut{Enrollment: userEnr}))
	if !w.Enrolled(udid) || w.EnrolledCount() != 1 {
		t.Error("a user channel's CheckOut unenrolled the device")
	}

	must(svc.CheckOut(dev, &mdm.CheckOut{Enrollment: enr}))
	if w.Enrolled(udid) || w.EnrolledCount() != 0 {
		t.Error("enrolled after CheckOut")
	}
	want := map[string]int{nanomdm.TopicAuthenticate: 1, nanomdm.TopicTokenUpdate: 2, nanomdm.TopicConnect: 3, nanomdm.TopicCheckOut: 2}
	got := w.Topics()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("topic %s: have %d, want %d (%v)", k, got[k], v, got)
		}
	}
	if w.Seen() != 8 || w.Errors() != 0 {
		t.Errorf("seen %d, errors %d", w.Seen(), w.Errors())
	}

	// Unsigned, or signed with another key: refused.
	if code := post(t, w.URL(), recordedConnect); code != http.StatusUnauthorized {
		t.Errorf("unsigned: HTTP %d", code)
	}
	other := nanowebhook.New(w.URL(), nanowebhook.WithHMACSecret([]byte("other")))
	if err := other.CheckOut(dev, &mdm.CheckOut{Enrollment: enr}); err == nil {
		t.Error("wrong key: NanoMDM saw no error")
	}
	if w.Errors() != 2 || w.Seen() != 8 {
		t.Errorf("after bad signatures: seen %d, errors %d", w.Seen(), w.Errors())
	}
}

// TestWebhookHostile: what is not an event is refused, counted, and
// changes nothing.
func TestWebhookHostile(t *testing.T) {
	t.Parallel()
	w := newWebhook(t, nanomdm.WebhookOptions{MaxBody: 4096})
	resp, err := http.Get(w.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d", resp.StatusCode)
	}
	for name, tc := range map[string]struct {
		body string
		want int
	}{
		"not JSON":        {"<plist/>", 400},
		"truncated":       {recordedConnect[:200], 400},
		"empty":           {"", 400},
		"null":            {"null", 400},
		"array":           {"[]", 400},
		"no topic":        {`{"checkin_event":{"udid":"x","raw_payload":""}}`, 400},
		"unknown topic":   {`{"topic":"mdm.Bogus","checkin_event":{"udid":"x"}}`, 400},
		"missing part":    {`{"topic":"mdm.Connect","checkin_event":{"udid":"x"}}`, 400},
		"no device":       {`{"topic":"mdm.TokenUpdate","checkin_event":{"raw_payload":""}}`, 400},
		"no status":       {`{"topic":"mdm.Connect","acknowledge_event":{"udid":"x","command_uuid":"c"}}`, 400},
		"bad base64":      {`{"topic":"mdm.TokenUpdate","checkin_event":{"udid":"x","raw_payload":"!!!"}}`, 400},
		"wrong types":     {`{"topic":7,"checkin_event":[]}`, 400},
		"bad time":        {`{"topic":"mdm.TokenUpdate","created_at":"yesterday","checkin_event":{"udid":"x"}}`, 400},
		"too large":       {`{"topic":"mdm.TokenUpdate","checkin_event":{"udid":"` + strings.Repeat("x", 5000) + `"}}`, 413},
		"deeply nested":   {strings.Repeat("[", 3000), 400},
		"nested in range": {`{"topic":"mdm.TokenUpdate","x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `,"checkin_event":{"udid":"ok"}}`, 200},
	} {
		if code := post(t, w.URL(), tc.body); code != tc.want {
			t.Errorf("%s: HTTP %d, want %d", name, code, tc.want)
		}
	}
	if w.Seen() != 1 || w.Errors() != 15 || !w.Enrolled("ok") || w.EnrolledCount() != 1 {
		t.Errorf("seen %d, errors %d, topics %v", w.Seen(), w.Errors(), w.Topics())
	}
}

// TestWebhookBounds: statuses past MaxCommands go oldest first; devices
// past MaxEnrolled are counted, not kept.
func TestWebhookBounds(t *testing.T) {
	t.Parallel()
	w := newWebhook(t, nanomdm.WebhookOptions{MaxCommands: 3, MaxEnrolled: 2})
	connect := func(uuid, status string) {
		t.Helper()
		if code := post(t, w.URL(), `{"topic":"mdm.Connect","acknowledge_event":{"udid":"d","command_uuid":"`+uuid+`","status":"`+status+`","raw_payload":""}}`); code != 200 {
			t.Fatalf("HTTP %d", code)
		}
	}
	connect("c1", "NotNow")
	connect("c2", "Acknowledged")
	connect("c3", "Acknowledged")
	connect("c1", "Acknowledged") // an update, not a new entry
	connect("c4", "Error")        // evicts c1, the oldest entry
	connect("c5", "Error")        // evicts c2
	for uuid, want := range map[string]string{"c1": "", "c2": "", "c3": "Acknowledged", "c4": "Error", "c5": "Error"} {
		st, ok := w.CommandStatus("d", uuid)
		if st != want || ok != (want != "") {
			t.Errorf("%s: have %q %v, want %q", uuid, st, ok, want)
		}
	}
	for _, d := range []string{"a", "b", "c", "a"} {
		post(t, w.URL(), `{"topic":"mdm.TokenUpdate","checkin_event":{"udid":"`+d+`","raw_payload":""}}`)
	}
	if w.EnrolledCount() != 2 || w.Overflow() != 1 || w.Enrolled("c") {
		t.Errorf("enrolled %d, overflow %d", w.EnrolledCount(), w.Overflow())
	}
}

// TestWebhookWait: Wait ends with its context or when the webhook closes.
func TestWebhookWait(t *testing.T) {
	t.Parallel()
	w := newWebhook(t, nanomdm.WebhookOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := w.Wait(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("have %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Wait(context.Background(), func() bool { return w.Seen() > 0 }) }()
	w.Close()
	if err := <-done; !errors.Is(err, nanomdm.ErrWebhookClosed) {
		t.Errorf("have %v", err)
	}
	if _, err := nanomdm.NewWebhook(nanomdm.WebhookOptions{Addr: "256.0.0.1:0"}); err == nil {
		t.Error("listening on a bad address: no error")
	}
}

// FuzzWebhook: any body is one event or one error, never a panic, and an
// accepted body is one DecodeEvent accepts.
func FuzzWebhook(f *testing.F) {
	for _, s := range []string{recordedAuthenticate, recordedConnect, "", "{}", "null",
		`{"topic":"mdm.Connect","acknowledge_event":{"udid":"d","command_uuid":"c","status":"Acknowledged","raw_payload":"PHBsaXN0Lz4="}}`,
		`{"topic":"mdm.CheckOut","checkin_event":{"enrollment_id":"e","ids":{"id":"i","type":"User"},"raw_payload":""}}`,
		`{"topic":"mdm.TokenUpdate","checkin_event":{"ids":{"id":"i","type":"Device"},"token_update_tally":1}}`,
	} {
		f.Add([]byte(s))
	}
	w, err := nanomdm.NewWebhook(nanomdm.WebhookOptions{MaxBody: 1 << 16, MaxCommands: 64, MaxEnrolled: 64})
	if err != nil {
		f.Fatal(err)
	}
	defer w.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		seen, errs := w.Seen(), w.Errors()
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body)))
		_, decodeErr := nanomdm.DecodeEvent(body)
		switch {
		case rec.Code == http.StatusOK:
			if decodeErr != nil {
				t.Fatalf("accepted a body DecodeEvent refuses: %v", decodeErr)
			}
		case decodeErr == nil && len(body) <= 1<<16:
			t.Fatalf("refused (HTTP %d) a body DecodeEvent accepts", rec.Code)
		}
		// Fuzz workers run one input at a time per process, so the
		// counts move by exactly one.
		if d := w.Seen() + w.Errors() - seen - errs; d != 1 {
			t.Fatalf("counts moved by %d", d)
		}
		if w.EnrolledCount() > 64 {
			t.Fatalf("enrolled %d past the bound", w.EnrolledCount())
		}
	})
}
