package mockapns

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mdmsim/mdmsim/internal/cpuside"
)

// ProxyHosts are the host names the CONNECT proxy tunnels to the mock: Apple's
// production and development APNs hosts.
var ProxyHosts = []string{"api.push.apple.com", "api.development.push.apple.com", "api.sandbox.push.apple.com"}

// Proxy is an HTTP CONNECT proxy in front of the mock. A server whose APNs
// base URL cannot be changed, but which honours HTTPS_PROXY (NanoMDM's
// binary does), reaches the mock through it: the tunnel carries the
// server's TLS session to the mock unchanged, so certificate authentication
// works end to end; the server must trust the mock's CA (SSL_CERT_FILE).
// It tunnels only to Apple's APNs host names on ports 443 and 2197: it is
// not an open proxy.
type Proxy struct {
	// URL is the proxy's address, for HTTPS_PROXY: http://127.0.0.1:PORT.
	URL string

	ln     net.Listener
	srv    *http.Server
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	routes map[string]string // other host -> address, port 443 only
}

// Route tunnels CONNECT requests for host, on port 443, to addr as well:
// how the harness puts its other mocks (gdmf.apple.com) behind the same
// proxy. The server at addr must present a certificate for host.
func (p *Proxy) Route(host, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.routes == nil {
		p.routes = map[string]string{}
	}
	p.routes[strings.ToLower(host)] = addr
}

// upstream returns where a CONNECT to host:port goes, or false.
func (p *Proxy) upstream(host, port string) (string, bool) {
	if (port == "443" || port == "2197") && isProxyHost(host) {
		return p.target, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	addr, ok := p.routes[strings.ToLower(host)]
	return addr, ok && port == "443"
}

// ErrNotStarted is returned by NewProxy before the server listens.
var ErrNotStarted = errors.New("mockapns: server not started")

// NewProxy starts a CONNECT proxy on ln (nil: 127.0.0.1 with a free port)
// that tunnels APNs connections to s.
func (s *Server) NewProxy(ln net.Listener) (*Proxy, error) {
	if s.Listener == nil {
		return nil, ErrNotStarted
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("mockapns: proxy: %w", err)
		}
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), ln: ln, target: s.Listener.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		cpuside.Set(cpuside.World)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "mockapns proxy: only CONNECT to APNs hosts", http.StatusMethodNotAllowed)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	target, ok := p.upstream(host, port)
	if err != nil || !ok {
		http.Error(w, "mockapns proxy: not an APNs host: "+r.Host, http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "mockapns proxy: cannot tunnel", http.StatusInternalServerError)
		return
	}
	upstream, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		http.Error(w, "mockapns proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	client, rw, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	p.track(client, upstream)
	if _, err := rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || rw.Flush() != nil {
		p.closePair(client, upstream)
		return
	}
	// Bytes the client sent after CONNECT are already buffered.
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		if _, err := upstream.Write(b); err != nil {
			p.closePair(client, upstream)
			return
		}
	}
	go func() {
		io.Copy(upstream, client)
		p.closePair(client, upstream)
	}()
	go func() {
		io.Copy(client, upstream)
		p.closePair(client, upstream)
	}()
}

func isProxyHost(h string) bool {
	for _, x := range ProxyHosts {
		if strings.EqualFold(h, x) {
			return true
		}
	}
	return false
}

func (p *Proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	p.mu.Unlock()
}

func (p *Proxy) closePair(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// Close stops the proxy and its tunnels.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	return err
}
