package mockapns

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzProviderRequest feeds arbitrary requests to the provider API: every
// answer must be an APNs status with an apns-id, and nothing may panic.
func FuzzProviderRequest(f *testing.F) {
	tok := strings.Repeat("ab", 32)
	f.Add("POST", "/3/device/"+tok, "bearer x.y.z", "10", "0", "mdm", `{"mdm":"m"}`)
	f.Add("GET", "/3/device/", "", "5", "-1", "alert", "")
	f.Add("POST", "/3/device/zz", "Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IksifQ.e30.AAAA", "x", "99999999999999999999", "bogus", strings.Repeat("a", 5000))
	f.Add("POST", "/", "", "", "", "", "{}")
	// A valid provider token on a fixed clock lets inputs get past
	// authentication to the header, token and payload checks.
	now := time.Unix(1_800_000_000, 0)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	bearer := "bearer " + signES256(f, key, `{"alg":"ES256","kid":"K"}`, fmt.Sprintf(`{"iss":"T","iat":%d}`, now.Unix()))
	f.Add("POST", "/3/device/"+tok, bearer, "10", "0", "mdm", `{"mdm":"m"}`)
	f.Add("POST", "/3/device/"+strings.Repeat("cd", 32), bearer, "5", "1800000001", "background", `{"aps":{}}`)
	srv := NewUnstartedServer(WithAcceptUnknownTokens(), WithNow(func() time.Time { return now }))
	defer srv.Close()
	srv.AddProviderKey("K", "T", &key.PublicKey)
	srv.RegisterDevice(bytes.Repeat([]byte{0xab}, 32), "com.apple.mgmt.x", "m", func() {})
	_ = srv.AddFault(Delay("slow", Fixed(time.Hour)).WithProbability(0.5))
	f.Fuzz(func(t *testing.T, method, path, authz, prio, exp, pushType, body string) {
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, controlPrefix) {
			return
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Method, req.URL.Path = method, path
		req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/2.0", 2, 0
		for k, v := range map[string]string{"Authorization": authz, "Apns-Priority": prio, "Apns-Expiration": exp, "Apns-Push-Type": pushType, "Apns-Topic": "com.apple.mgmt.x"} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != 200 {
			if _, known := ReasonStatus(payloadReason(rec.Body.Bytes())); !known {
				t.Errorf("status %d with body %q", rec.Code, rec.Body)
			}
		}
		if !isUUID(rec.Header().Get("Apns-Id")) {
			t.Errorf("apns-id %q", rec.Header().Get("Apns-Id"))
		}
	})
}

// signES256 makes a compact JWS from raw header and claims JSON.
func signES256(t testing.TB, key *ecdsa.PrivateKey, header, claims string) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return in + "." + enc.EncodeToString(sig)
}

func payloadReason(b []byte) string {
	_, after, _ := strings.Cut(string(b), `"reason":"`)
	r, _, _ := strings.Cut(after, `"`)
	return r
}

// FuzzControl feeds arbitrary bodies to the control API: answers are 2xx or
// 4xx, never a panic or a 5xx.
func FuzzControl(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","type":"drop","probability":0.5}`,
		`{"name":"x","type":"latency","latency":{"kind":"normal","mean":"1ms","stddev":"1ms"}}`,
		`{"name":"x","type":"rate_limit","limit":3,"per_token":true,"token":"00ff"}`,
		`{"token":"00ff","reason":"Unregistered"}`,
		`{"online":false}`,
		`{"key_id":"k","team_id":"t","public_key":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----"}`,
		`null`, `[]`, `{"latency":{"mean":1e99}}`,
	} {
		for _, p := range []string{"faults", "fail-token", "devices/00ff/online", "provider-keys", "topics"} {
			f.Add(p, s)
		}
	}
	srv := NewUnstartedServer()
	defer srv.Close()
	f.Fuzz(func(t *testing.T, path, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.URL.Path = controlPrefix + path
		if strings.HasPrefix(path, "stream") {
			return
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("%s %q: %d %s", path, body, rec.Code, rec.Body)
		}
	})
}

// FuzzVerifyJWT checks the provider-token parser on arbitrary input.
func FuzzVerifyJWT(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6IksifQ.eyJpc3MiOiJUIiwiaWF0IjoxfQ." + strings.Repeat("A", 86))
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		if r := verifyJWT(tok, map[string]providerKey{}); r.reason == "" {
			t.Errorf("token %q verified without any key", tok)
		}
	})
}

// FuzzStreamOps feeds arbitrary operation lines to a stream session.
func FuzzStreamOps(f *testing.F) {
	f.Add(`{"op":"register","token":"00ff","topic":"t","push_magic":"m"}`)
	f.Add(`{"op":"online","token":"00ff"}`)
	f.Add(`{"op":"sync","id":1}`)
	f.Add(`{"op":"unregister","token":"zz"}`)
	srv := NewUnstartedServer()
	defer srv.Close()
	f.Fuzz(func(t *testing.T, lines string) {
		ss := &session{signal: make(chan struct{}, 1), done: make(chan struct{})}
		req := httptest.NewRequest(http.MethodPost, "/_mock/stream", strings.NewReader(lines))
		srv.readOps(req, ss)
		srv.endSession(ss)
	})
}
