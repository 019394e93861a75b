package mockapns_test

import (
	"crypto/ecdsa"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"

	"github.com/mdmsim/mdmsim/mockapns"
)

// certClient is sideshow/apns2 with certificate auth, pointed at srv.
func certClient(srv *mockapns.Server, cert tls.Certificate) *apns2.Client {
	c := apns2.NewClient(cert)
	c.Host = srv.URL
	c.HTTPClient.Transport.(*http2.Transport).TLSClientConfig.RootCAs = caPool(srv)
	return c
}

const (
	keyID  = "ABC123DEFG"
	teamID = "DEF123GHIJ"
	appTop = "com.example.app"
)

// tokenClient is sideshow/apns2 with token auth, pointed at srv.
func tokenClient(srv *mockapns.Server, key *ecdsa.PrivateKey, kid, team string) *apns2.Client {
	c := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: kid, TeamID: team})
	c.Host = srv.URL
	c.HTTPClient.Transport.(*http2.Transport).TLSClientConfig = &tls.Config{RootCAs: caPool(srv)}
	return c
}

// staleTokenClient signs a JWT whose iat is two hours old.
func staleTokenClient(t *testing.T, srv *mockapns.Server, key *ecdsa.PrivateKey) *apns2.Client {
	bearer := signJWT(t, key, keyID, teamID, time.Now().Add(-2*time.Hour))
	c := tokenClient(srv, key, keyID, teamID)
	// A fresh IssuedAt keeps apns2 from signing a new token itself.
	c.Token.IssuedAt, c.Token.Bearer = time.Now().Unix(), bearer
	return c
}

func TestAPNs2CertificateAuth(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	cli := certClient(srv, pushCert(t, mdmTopic))

	ok := newDevice().register(srv, mdmTopic)
	other := newDevice().register(srv, "com.apple.mgmt.External.other")
	gone := newDevice().register(srv, mdmTopic)
	srv.UnregisterDevice(gone.token)
	goneAt := time.Now()
	limited := newDevice().register(srv, mdmTopic)
	// A limit of 0 refuses every push; windows are tested with a manual clock.
	if err := srv.AddFault(mockapns.RateLimit("rl", 0, true).ForToken(limited.token)); err != nil {
		t.Fatal(err)
	}
	failing := map[string]*device{}
	for _, reason := range []string{mockapns.ReasonInternalServerError, mockapns.ReasonServiceUnavailable, mockapns.ReasonShutdown} {
		d := newDevice().register(srv, mdmTopic)
		if err := srv.FailToken(d.token, reason); err != nil {
			t.Fatal(err)
		}
		failing[reason] = d
	}

	n := func(d *device) *apns2.Notification {
		return &apns2.Notification{DeviceToken: hexOf(d.token), Payload: d.payload(), PushType: apns2.PushTypeMDM}
	}
	tests := []struct {
		name      string
		client    *apns2.Client
		n         *apns2.Notification
		status    int
		reason    string
		delivered *device
	}{
		{name: "accepted", n: n(ok), status: 200, delivered: ok},
		{name: "accepted with apns-topic, alert push type and priority 5", n: func() *apns2.Notification {
			x := n(ok)
			x.Topic, x.PushType, x.Priority = mdmTopic, apns2.PushTypeAlert, apns2.PriorityLow
			return x
		}(), status: 200, delivered: ok},
		{name: "token not hex", n: &apns2.Notification{DeviceToken: "zz" + strings.Repeat("0", 62), Payload: ok.payload()}, status: 400, reason: apns2.ReasonBadDeviceToken},
		{name: "token too short", n: &apns2.Notification{DeviceToken: "abcd", Payload: ok.payload()}, status: 400, reason: apns2.ReasonBadDeviceToken},
		{name: "token never registered", n: &apns2.Notification{DeviceToken: hexOf(newToken()), Payload: ok.payload()}, status: 400, reason: apns2.ReasonBadDeviceToken},
		{name: "token for another topic", n: n(other), status: 400, reason: apns2.ReasonDeviceTokenNotForTopic},
		{name: "unregistered", n: n(gone), status: 410, reason: apns2.ReasonUnregistered},
		{name: "payload too large", n: &apns2.Notification{DeviceToken: hexOf(ok.token), Payload: []byte(`{"mdm":"` + strings.Repeat("x", 4100) + `"}`)}, status: 413, reason: apns2.ReasonPayloadTooLarge},
		{name: "bad priority", n: func() *apns2.Notification { x := n(ok); x.Priority = 7; return x }(), status: 400, reason: apns2.ReasonBadPriority},
		{name: "bad push type", n: func() *apns2.Notification { x := n(ok); x.PushType = "telepathy"; return x }(), status: 400, reason: apns2.ReasonInvalidPushType},
		{name: "bad apns-id", n: func() *apns2.Notification { x := n(ok); x.ApnsID = "not-a-uuid"; return x }(), status: 400, reason: apns2.ReasonBadMessageID},
		{name: "collapse id too long", n: func() *apns2.Notification { x := n(ok); x.CollapseID = strings.Repeat("c", 65); return x }(), status: 400, reason: apns2.ReasonBadCollapseID},
		{name: "apns-topic not the certificate's", n: func() *apns2.Notification { x := n(ok); x.Topic = "com.apple.mgmt.External.other"; return x }(), status: 400, reason: apns2.ReasonBadTopic},
		{name: "rate limited", n: n(limited), status: 429, reason: apns2.ReasonTooManyRequests},
		{name: "internal server error", n: n(failing[mockapns.ReasonInternalServerError]), status: 500, reason: apns2.ReasonInternalServerError},
		{name: "service unavailable", n: n(failing[mockapns.ReasonServiceUnavailable]), status: 503, reason: apns2.ReasonServiceUnavailable},
		{name: "shutdown", n: n(failing[mockapns.ReasonShutdown]), status: 503, reason: apns2.ReasonShutdown},
		{name: "bad path", client: func() *apns2.Client { c := certClient(srv, pushCert(t, mdmTopic)); c.Host = srv.URL + "/v2"; return c }(), n: n(ok), status: 404, reason: apns2.ReasonBadPath},
		{name: "no credentials", client: &apns2.Client{Host: srv.URL, HTTPClient: srv.Client()}, n: n(ok), status: 403, reason: apns2.ReasonMissingProviderToken},
		{name: "certificate for another topic", client: certClient(srv, pushCert(t, "com.example.notmdm")), n: n(ok), status: 403, reason: apns2.ReasonBadCertificate},
		{name: "expired certificate", client: func() *apns2.Client {
			c, err := mockapns.NewPushCertificate(mdmTopic, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			return certClient(srv, c)
		}(), n: n(ok), status: 403, reason: apns2.ReasonBadCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cli
			if tc.client != nil {
				c = tc.client
			}
			res, err := c.Push(tc.n)
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if res.StatusCode != tc.status || res.Reason != tc.reason {
				t.Errorf("have %d %q, want %d %q", res.StatusCode, res.Reason, tc.status, tc.reason)
			}
			if res.ApnsID == "" {
				t.Error("no apns-id in the response")
			}
			if tc.n.ApnsID != "" && tc.reason == "" && res.ApnsID != tc.n.ApnsID {
				t.Errorf("apns-id: have %q, want the request's %q", res.ApnsID, tc.n.ApnsID)
			}
			if tc.delivered != nil {
				tc.delivered.waitDelivered(t)
			}
			if tc.status == 410 {
				// apns2 reads the timestamp as milliseconds, as Apple documents.
				if d := res.Timestamp.Sub(goneAt); d < -2*time.Second || d > 2*time.Second {
					t.Errorf("410 timestamp %v, want about %v", res.Timestamp.Time, goneAt)
				}
			}
		})
	}
}

func TestAPNs2EchoesApnsID(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	d := newDevice().register(srv, mdmTopic)
	cli := certClient(srv, pushCert(t, mdmTopic))
	const id = "EABEAE54-14A8-11E5-B60B-1697F925EC7B"
	res, err := cli.Push(&apns2.Notification{DeviceToken: hexOf(d.token), Payload: d.payload(), ApnsID: id})
	if err != nil || res.StatusCode != 200 || res.ApnsID != id {
		t.Fatalf("have %+v, %v; want 200 with apns-id %s", res, err, id)
	}
	res, err = cli.Push(&apns2.Notification{DeviceToken: hexOf(d.token), Payload: d.payload()})
	if err != nil || res.StatusCode != 200 || len(res.ApnsID) != 36 {
		t.Fatalf("have %+v, %v; want 200 with a generated UUID", res, err)
	}
	p := lastPush(t, srv)
	if p.APNsID != res.ApnsID || p.Auth != mockapns.AuthCertificate || p.Topic != mdmTopic {
		t.Errorf("recorded %+v", p)
	}
}

func TestAPNs2TokenAuth(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer()
	defer srv.Close()
	srv.AllowTopic(appTop)
	key := ecKey(t)
	srv.AddProviderKey(keyID, teamID, &key.PublicKey)

	app := newDevice().register(srv, appTop)
	n := func(topic string) *apns2.Notification {
		return &apns2.Notification{DeviceToken: hexOf(app.token), Topic: topic, Payload: app.payload()}
	}
	tests := []struct {
		name   string
		client *apns2.Client
		n      *apns2.Notification
		status int
		reason string
	}{
		{"accepted", tokenClient(srv, key, keyID, teamID), n(appTop), 200, ""},
		{"missing topic", tokenClient(srv, key, keyID, teamID), n(""), 400, apns2.ReasonMissingTopic},
		{"topic not allowed", tokenClient(srv, key, keyID, teamID), n("com.example.elsewhere"), 400, apns2.ReasonTopicDisallowed},
		{"signed by another key", tokenClient(srv, ecKey(t), keyID, teamID), n(appTop), 403, apns2.ReasonInvalidProviderToken},
		{"unknown key id", tokenClient(srv, key, "ZZZ9999999", teamID), n(appTop), 403, apns2.ReasonInvalidProviderToken},
		{"wrong team", tokenClient(srv, key, keyID, "OTHERTEAM1"), n(appTop), 403, apns2.ReasonInvalidProviderToken},
		{"iat older than an hour", staleTokenClient(t, srv, key), n(appTop), 403, apns2.ReasonExpiredProviderToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.client.Push(tc.n)
			if err != nil {
				t.Fatalf("push: %v", err)
			}
			if res.StatusCode != tc.status || res.Reason != tc.reason {
				t.Errorf("have %d %q, want %d %q", res.StatusCode, res.Reason, tc.status, tc.reason)
			}
		})
	}
	app.waitDelivered(t)
	if p := srv.Pushes()[0]; p.Auth != mockapns.AuthToken || p.Topic != appTop {
		t.Errorf("first push recorded as %+v", p)
	}
}

// TestAPNs2TimestampSeconds covers servers configured for clients that read
// the 410 timestamp as seconds.
func TestAPNs2TimestampSeconds(t *testing.T) {
	t.Parallel()
	srv := mockapns.NewServer(mockapns.WithTimestampUnit(time.Second))
	defer srv.Close()
	d := newDevice().register(srv, mdmTopic)
	srv.UnregisterDevice(d.token)
	res, err := certClient(srv, pushCert(t, mdmTopic)).Push(&apns2.Notification{DeviceToken: hexOf(d.token), Payload: d.payload()})
	if err != nil || res.StatusCode != http.StatusGone {
		t.Fatalf("have %+v, %v", res, err)
	}
	// apns2 divides by 1000, so seconds land near the epoch.
	if res.Timestamp.Year() != 1970 {
		t.Errorf("timestamp %v: want a value in seconds", res.Timestamp)
	}
}
