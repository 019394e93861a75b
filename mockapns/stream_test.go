package mockapns_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/internal/testutil"
	"github.com/mdmsim/mdmsim/mockapns"
)

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func listen(t testing.TB, addr string) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return &countingListener{Listener: l}
}

// deviceAPI is the interface the simulator states; both Server and Remote
// satisfy it.
type deviceAPI interface {
	RegisterDevice(token []byte, topic, pushMagic string, deliver func())
	UnregisterDevice(token []byte)
}

var (
	_ deviceAPI = (*mockapns.Server)(nil)
	_ deviceAPI = (*mockapns.Remote)(nil)
)

// TestRemoteTenThousandDevicesOneConnection registers 10 000 devices over one
// stream and delivers a push to each of them over it.
func TestRemoteTenThousandDevicesOneConnection(t *testing.T) {
	t.Parallel()
	const n = 10_000
	l := listen(t, "127.0.0.1:0")
	srv := mockapns.NewServer(mockapns.WithListener(l))
	defer srv.Close()

	p := newPusher(t, srv)
	warm := newDevice().register(srv, mdmTopic)
	p.want(warm, 200, "") // the pusher's connection
	before := l.n.Load()

	remote, err := mockapns.Dial(context.Background(), srv.URL, mockapns.WithRootCAs(caPool(srv)))
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	var api deviceAPI = remote

	var delivered atomic.Int64
	done := make(chan struct{})
	tokens := make([][]byte, n)
	for i := range tokens {
		tokens[i] = newToken()
		api.RegisterDevice(tokens[i], mdmTopic, "magic", func() {
			if delivered.Add(1) == n {
				close(done)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := remote.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.Devices(); got != n+1 {
		t.Fatalf("%d devices registered, want %d", got, n+1)
	}

	var wg sync.WaitGroup
	work := make(chan []byte)
	var refused atomic.Int64
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range work {
				if s, _ := p.push(tok, []byte(`{"mdm":"magic"}`)); s != 200 {
					refused.Add(1)
				}
			}
		}()
	}
	for _, tok := range tokens {
		work <- tok
	}
	close(work)
	wg.Wait()
	if refused.Load() != 0 {
		t.Fatalf("%d pushes refused", refused.Load())
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%d of %d pushes reached the remote devices", delivered.Load(), n)
	}
	if got := l.n.Load() - before; got != 1 {
		t.Errorf("the remote used %d connections, want 1", got)
	}

	// Unregistering over the stream makes APNs answer 410.
	api.UnregisterDevice(tokens[0])
	if err := remote.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, r := p.push(tokens[0], []byte(`{"mdm":"magic"}`)); s != 410 {
		t.Errorf("after remote unregister: %d %s", s, r)
	}
}

// TestRemoteOfflineAndReconnect restarts the mock on the same port: the Remote
// dials again and registers its devices with the new process.
func TestRemoteOfflineAndReconnect(t *testing.T) {
	t.Parallel()
	l := listen(t, "127.0.0.1:0")
	addr := l.Addr().String()
	srv := mockapns.NewServer(mockapns.WithListener(l), mockapns.WithH2C())
	remote, err := mockapns.Dial(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	d := newDevice().register(remote, mdmTopic)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Offline over the stream: a push is stored, then delivered.
	remote.SetOnline(d.token, false)
	if err := remote.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s := pushH2C(t, srv, d); s != 200 {
		t.Fatalf("push: %d", s)
	}
	d.notDelivered(t)
	remote.SetOnline(d.token, true)
	d.waitDelivered(t)

	srv.Close()
	var srv2 *mockapns.Server
	testutil.Eventually(t, "the port to be free again", func() bool {
		l2, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		srv2 = mockapns.NewServer(mockapns.WithListener(l2), mockapns.WithH2C())
		return true
	})
	defer srv2.Close()
	testutil.Eventually(t, "the remote to register again", func() bool { return srv2.Devices() == 1 })
	if s := pushH2C(t, srv2, d); s != 200 {
		t.Fatalf("push after reconnect: %d", s)
	}
	d.waitDelivered(t)
}

// pushH2C pushes with token auth over h2c.
func pushH2C(t *testing.T, srv *mockapns.Server, d *device) int {
	t.Helper()
	key := ecKey(t)
	srv.AddProviderKey("K", "T", &key.PublicKey)
	bearer := signJWT(t, key, "K", "T", time.Now())
	req, _ := http.NewRequest("POST", srv.URL+"/3/device/"+hexOf(d.token), bytes.NewReader(d.payload()))
	req.Header.Set("authorization", "bearer "+bearer)
	req.Header.Set("apns-topic", mdmTopic)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := mockapns.Dial(ctx, "ftp://example.invalid"); err == nil {
		t.Error("ftp URL accepted")
	}
	srv := mockapns.NewServer()
	defer srv.Close()
	// Without the CA the TLS handshake fails.
	if _, err := mockapns.Dial(ctx, srv.URL); err == nil {
		t.Error("dial without trusting the CA succeeded")
	}
}
