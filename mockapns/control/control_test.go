package control_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"github.com/mdmsim/mdmsim/mockapns"
	"github.com/mdmsim/mdmsim/mockapns/control"
)

const topic = "com.apple.mgmt.External.0d7a4c0e-3f6b-4a57-8e1a-2b9c4d5e6f70"

func setup(t *testing.T) (*mockapns.Server, *control.Client, *apns2.Client) {
	t.Helper()
	srv := mockapns.NewServer()
	t.Cleanup(srv.Close)
	cert, err := mockapns.NewPushCertificate(topic, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	hc, err := srv.PushClient(&cert)
	if err != nil {
		t.Fatal(err)
	}
	return srv, control.New(srv.URL, control.WithCACertPEM(srv.CACertPEM())), &apns2.Client{Host: srv.URL, HTTPClient: hc}
}

func push(t *testing.T, c *apns2.Client, tok []byte) *apns2.Response {
	t.Helper()
	res, err := c.Push(&apns2.Notification{DeviceToken: string(hexs(tok)), Payload: `{"mdm":"m"}`})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hexs(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

func token32(b byte) []byte {
	tok := make([]byte, 32)
	tok[0] = b
	return tok
}

func TestControlClient(t *testing.T) {
	t.Parallel()
	srv, cc, apns := setup(t)
	ctx := context.Background()
	delivered := make(chan struct{}, 8)
	tok := token32(1)
	srv.RegisterDevice(tok, topic, "m", func() { delivered <- struct{}{} })

	if devices, streams, err := cc.Health(ctx); err != nil || devices != 1 || streams != 0 {
		t.Fatalf("health: %d %d %v", devices, streams, err)
	}
	if pem, err := cc.CACertPEM(ctx); err != nil || string(pem) != string(srv.CACertPEM()) {
		t.Fatalf("CA: %v", err)
	}

	if err := cc.AddFault(ctx, mockapns.Unavailable()); err != nil {
		t.Fatal(err)
	}
	if res := push(t, apns, tok); res.StatusCode != 503 || res.Reason != apns2.ReasonServiceUnavailable {
		t.Errorf("with fault: %d %s", res.StatusCode, res.Reason)
	}
	if fs, err := cc.Faults(ctx); err != nil || len(fs) != 1 || fs[0].Name != "unavailable" {
		t.Errorf("faults %+v %v", fs, err)
	}
	if err := cc.RemoveFault(ctx, "unavailable"); err != nil {
		t.Fatal(err)
	}
	var cerr *control.Error
	if err := cc.RemoveFault(ctx, "unavailable"); !errors.As(err, &cerr) || cerr.Status != 404 {
		t.Errorf("removing a missing fault: %v", err)
	}
	if res := push(t, apns, tok); res.StatusCode != 200 {
		t.Errorf("without fault: %d %s", res.StatusCode, res.Reason)
	}
	<-delivered

	if err := cc.FailToken(ctx, tok, apns2.ReasonTooManyRequests); err != nil {
		t.Fatal(err)
	}
	if res := push(t, apns, tok); res.StatusCode != 429 {
		t.Errorf("failed token: %d", res.StatusCode)
	}
	if err := cc.RemoveFault(ctx, "token/"+string(hexs(tok))); err != nil {
		t.Fatal(err)
	}
	if err := cc.AddFault(ctx, mockapns.Delay("slow", mockapns.Normal(time.Millisecond, time.Millisecond, 0))); err != nil {
		t.Fatal(err)
	}
	if err := cc.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}

	if err := cc.SetOnline(ctx, tok, false); err != nil {
		t.Fatal(err)
	}
	push(t, apns, tok)
	if err := cc.SetOnline(ctx, tok, true); err != nil {
		t.Fatal(err)
	}
	<-delivered

	st, err := cc.Stats(ctx)
	if err != nil || st.Accepted != 2 || st.Reasons[apns2.ReasonServiceUnavailable] != 1 || st.Delivered() != 2 {
		t.Errorf("stats %+v %v", st, err)
	}
	ps, err := cc.Pushes(ctx)
	if err != nil || len(ps) != 4 || !ps[1].Delivered || ps[0].Reason != apns2.ReasonServiceUnavailable {
		t.Errorf("pushes %+v %v", ps, err)
	}
	if err := cc.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := cc.Stats(ctx); st.Requests != 0 {
		t.Errorf("after reset %+v", st)
	}

	if err := cc.UnregisterDevice(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if res := push(t, apns, tok); res.StatusCode != 410 || res.Timestamp.IsZero() {
		t.Errorf("unregistered: %+v", res)
	}
}

func TestControlProviderKeysAndTopics(t *testing.T) {
	t.Parallel()
	srv, cc, _ := setup(t)
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.AddProviderKey(ctx, "KEY1234567", "TEAM123456", &key.PublicKey); err != nil {
		t.Fatal(err)
	}
	if err := cc.AllowTopic(ctx, "com.example.app"); err != nil {
		t.Fatal(err)
	}
	tok := token32(2)
	srv.RegisterDevice(tok, "com.example.app", "", func() {})
	c := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: "KEY1234567", TeamID: "TEAM123456"})
	c.Host = srv.URL
	c.HTTPClient.Transport.(*http2.Transport).TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	res, err := c.Push(&apns2.Notification{DeviceToken: string(hexs(tok)), Topic: "com.example.app", Payload: `{"aps":{}}`})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("token push: %+v %v", res, err)
	}
	if err := cc.RemoveProviderKey(ctx, "KEY1234567"); err != nil {
		t.Fatal(err)
	}
	res, err = c.Push(&apns2.Notification{DeviceToken: string(hexs(tok)), Topic: "com.example.app", Payload: `{"aps":{}}`})
	if err != nil || res.Reason != apns2.ReasonInvalidProviderToken {
		t.Fatalf("after revoking the key: %+v %v", res, err)
	}
}

// TestControlBadInput checks that bad input gets a 400 (or 404/405) with a
// message that says what is wrong.
func TestControlBadInput(t *testing.T) {
	t.Parallel()
	srv, _, _ := setup(t)
	hc := srv.Client()
	tests := []struct {
		method, path, body string
		status             int
		mentions           string
	}{
		{"POST", "faults", "not json", 400, "bad JSON"},
		{"POST", "faults", `{"name":"x","type":"drop","probabilty":0.5}`, 400, "probabilty"},
		{"POST", "faults", `{"name":"x","type":"drop","probability":2}`, 400, "probability"},
		{"POST", "faults", `{"name":"x","type":"explode"}`, 400, "unknown type"},
		{"POST", "faults", `{"type":"drop"}`, 400, "name"},
		{"POST", "faults", `{"name":"x","type":"reject","reason":"Nope"}`, 400, "not an APNs reason"},
		{"POST", "faults", `{"name":"x","type":"latency","latency":{"kind":"weird"}}`, 400, "weird"},
		{"POST", "faults", `{"name":"x","type":"latency","latency":{"kind":"fixed","mean":"soon"}}`, 400, "duration"},
		{"POST", "faults", `{"name":"x","type":"rate_limit","limit":-3}`, 400, "negative"},
		{"POST", "faults", `{"name":"x","type":"drop"} {}`, 400, "more than one"},
		{"POST", "faults", `[1,2]`, 400, "bad JSON"},
		{"POST", "fail-token", `{"token":"zz","reason":"Unregistered"}`, 400, "not hex"},
		{"POST", "fail-token", `{"token":"00ff","reason":"Whatever"}`, 400, "not an APNs reason"},
		{"POST", "topics", `{"topic":""}`, 400, "empty"},
		{"POST", "provider-keys", `{"key_id":"k","team_id":"t","public_key":"nope"}`, 400, "PEM"},
		{"POST", "provider-keys", `{"key_id":"k"}`, 400, "required"},
		{"POST", "devices/zz/online", `{"online":true}`, 400, "not hex"},
		{"POST", "devices/00ff/online", `{}`, 400, "online"},
		{"POST", "devices/00ff/reboot", `{}`, 404, "no control endpoint"},
		{"GET", "nothing-here", "", 404, "no control endpoint"},
		{"DELETE", "stats", "", 405, "method not allowed"},
		{"DELETE", "faults/missing", "", 404, "missing"},
		{"GET", "stream", "", 405, "method not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path+" "+tc.body, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+"/_mock/"+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body not JSON: %v", err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(body.Error, tc.mentions) {
				t.Errorf("have %d %q, want %d mentioning %q", resp.StatusCode, body.Error, tc.status, tc.mentions)
			}
		})
	}
	if got := len(srv.Faults()); got != 0 {
		t.Errorf("%d faults installed by bad requests", got)
	}
}
