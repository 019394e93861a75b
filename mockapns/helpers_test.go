package mockapns_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"github.com/mdmsim/mdmsim/mockapns"
)

// mdmTopic is a push topic shaped like the ones Apple issues for MDM.
const mdmTopic = "com.apple.mgmt.External.5f8a8a3c-9a0e-4a53-9a57-6b1d2a6f0c11"

var tokenSeq atomic.Uint64

// newToken returns a distinct 32-byte device token.
func newToken() []byte {
	n := tokenSeq.Add(1)
	tok := make([]byte, 32)
	_, _ = rand.Read(tok)
	for i := range 8 {
		tok[i] = byte(n >> (56 - 8*i))
	}
	return tok
}

// pushCert makes a push certificate for topic valid around now.
func pushCert(t testing.TB, topic string) tls.Certificate {
	t.Helper()
	c, err := mockapns.NewPushCertificate(topic, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caPool(srv *mockapns.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

// device is a simulated device's push end: it counts deliveries.
type device struct {
	token []byte
	magic string
	n     atomic.Int64
	ch    chan struct{}
}

func newDevice() *device {
	return &device{token: newToken(), magic: fmt.Sprintf("magic-%d", tokenSeq.Load()), ch: make(chan struct{}, 64)}
}

func (d *device) deliver() {
	d.n.Add(1)
	select {
	case d.ch <- struct{}{}:
	default:
	}
}

func (d *device) register(r interface {
	RegisterDevice(token []byte, topic, pushMagic string, deliver func())
}, topic string) *device {
	r.RegisterDevice(d.token, topic, d.magic, d.deliver)
	return d
}

func (d *device) payload() []byte { return []byte(`{"mdm":"` + d.magic + `"}`) }

// waitDelivered waits for one delivery.
func (d *device) waitDelivered(t testing.TB) {
	t.Helper()
	select {
	case <-d.ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("device %x: no delivery within 5s", d.token)
	}
}

// notDelivered checks that no delivery happens for a short while.
func (d *device) notDelivered(t testing.TB) {
	t.Helper()
	select {
	case <-d.ch:
		t.Fatalf("device %x: unexpected delivery", d.token)
	case <-time.After(50 * time.Millisecond):
	}
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// manualClock is a settable clock for WithNow.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lastPush returns the newest recorded push.
func lastPush(t testing.TB, srv *mockapns.Server) mockapns.Push {
	t.Helper()
	ps := srv.Pushes()
	if len(ps) == 0 {
		t.Fatal("no pushes recorded")
	}
	return ps[len(ps)-1]
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

// signJWT makes an APNs provider token.
func signJWT(t testing.TB, key *ecdsa.PrivateKey, kid, team string, iat time.Time) string {
	t.Helper()
	jt := &jwt.Token{
		Header: map[string]any{"alg": "ES256", "kid": kid},
		Claims: jwt.MapClaims{"iss": team, "iat": iat.Unix()},
		Method: jwt.SigningMethodES256,
	}
	s, err := jt.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
