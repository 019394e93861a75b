package mockapns_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sideshow/apns2"

	"github.com/mdmsim/mdmsim/mockapns"
)

// TestRawRequests covers what sideshow/apns2 and nanopush cannot send: the
// answers are decoded the way apns2 decodes them.
func TestRawRequests(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	cert := pushCert(t, mdmTopic)
	hc, err := srv.PushClient(&cert)
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice().register(srv, mdmTopic)
	path := "/3/device/" + hexOf(d.token)

	tests := []struct {
		name         string
		method, path string
		header       http.Header
		body         string
		status       int
		reason       string
	}{
		{name: "accepted", method: "POST", path: path, body: string(d.payload()), status: 200},
		{name: "empty payload", method: "POST", path: path, status: 400, reason: apns2.ReasonPayloadEmpty},
		{name: "expiration not a number", method: "POST", path: path, header: http.Header{"Apns-Expiration": {"tomorrow"}}, body: string(d.payload()), status: 400, reason: apns2.ReasonBadExpirationDate},
		{name: "expiration negative", method: "POST", path: path, header: http.Header{"Apns-Expiration": {"-1"}}, body: string(d.payload()), status: 400, reason: apns2.ReasonBadExpirationDate},
		{name: "GET", method: "GET", path: path, status: 405, reason: apns2.ReasonMethodNotAllowed},
		{name: "PUT", method: "PUT", path: path, body: string(d.payload()), status: 405, reason: apns2.ReasonMethodNotAllowed},
		{name: "no token", method: "POST", path: "/3/device/", body: string(d.payload()), status: 400, reason: apns2.ReasonMissingDeviceToken},
		{name: "other path", method: "POST", path: "/4/device/" + hexOf(d.token), body: string(d.payload()), status: 404, reason: apns2.ReasonBadPath},
		{name: "duplicate header", method: "POST", path: path, header: http.Header{"Apns-Priority": {"10", "5"}}, body: string(d.payload()), status: 400, reason: apns2.ReasonDuplicateHeaders},
		{name: "uppercase token", method: "POST", path: strings.ToUpper(path), body: string(d.payload()), status: 404, reason: apns2.ReasonBadPath},
		{name: "uppercase hex", method: "POST", path: "/3/device/" + strings.ToUpper(hexOf(d.token)), body: string(d.payload()), status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, "https://api.push.apple.com"+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tc.header {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
			var res apns2.Response
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil && err != io.EOF {
				t.Fatalf("decode: %v", err)
			}
			if resp.StatusCode != tc.status || res.Reason != tc.reason {
				t.Errorf("have %d %q, want %d %q", resp.StatusCode, res.Reason, tc.status, tc.reason)
			}
			if resp.Header.Get("apns-id") == "" {
				t.Error("no apns-id")
			}
		})
	}
	st := srv.Stats()
	if st.Reasons[mockapns.ReasonMethodNotAllowed] != 2 || st.Accepted != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestHTTP1Refused checks that a client falling back to HTTP/1.1 fails, as it
// would against APNs, while the control API still answers it.
func TestHTTP1Refused(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	d := newDevice().register(srv, mdmTopic)
	cert := pushCert(t, mdmTopic)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	tr.TLSClientConfig.NextProtos = nil
	hc := &http.Client{Transport: tr}
	resp, err := hc.Post(srv.URL+"/3/device/"+hexOf(d.token), "application/json", strings.NewReader(string(d.payload())))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("HTTP/1.1 push answered %s", resp.Status)
	}
	d.notDelivered(t)
	resp, err = hc.Get(srv.URL + "/_mock/health")
	if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Fatalf("control API over HTTP/1.1: %v %+v", err, resp)
	}
	resp.Body.Close()
}
