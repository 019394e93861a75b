// Package control is a client for the control API of a mock APNs server
// (package mockapns), for tests that run in another process than the mock,
// such as one started with `mdmsim apns serve`.
//
// Every method maps to one endpoint under /_mock/ and returns an *Error for
// a non-2xx answer.
package control

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mdmsim/mdmsim/mockapns"
)

// Client talks to one mock APNs server's control API.
type Client struct {
	base string
	hc   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client, e.g. mockapns.Server.Client().
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithCACertPEM trusts the mock's CA, as written by `mdmsim apns serve
// --ca-out`. It is ignored when WithHTTPClient is also given.
func WithCACertPEM(caPEM []byte) Option {
	return func(c *Client) {
		if c.hc != nil {
			return
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		c.hc = &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		}}
	}
}

// New returns a client for the server at baseURL (its URL, e.g.
// https://127.0.0.1:2197). Without options it uses http.DefaultClient, which
// suits an h2c server or a CA in the system pool.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimSuffix(baseURL, "/")}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	return c
}

// Error is a control-API error answer.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mockapns control: %d %s", e.Status, e.Message)
}

// Health reports the number of registered devices and open device streams.
func (c *Client) Health(ctx context.Context) (devices, streams int, err error) {
	var out struct {
		Devices int `json:"devices"`
		Streams int `json:"streams"`
	}
	err = c.do(ctx, http.MethodGet, "health", nil, &out)
	return out.Devices, out.Streams, err
}

// CACertPEM fetches the server's CA certificate. The connection that fetches
// it must already trust it, or be h2c.
func (c *Client) CACertPEM(ctx context.Context) ([]byte, error) {
	var buf bytes.Buffer
	err := c.do(ctx, http.MethodGet, "ca.pem", nil, &buf)
	return buf.Bytes(), err
}

// AddFault installs or replaces a fault.
func (c *Client) AddFault(ctx context.Context, f mockapns.Fault) error {
	return c.do(ctx, http.MethodPost, "faults", f, nil)
}

// RemoveFault removes a fault by name.
func (c *Client) RemoveFault(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "faults/"+url.PathEscape(name), nil, nil)
}

// ClearFaults removes every fault.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "faults", nil, nil)
}

// Faults lists the installed faults.
func (c *Client) Faults(ctx context.Context) ([]mockapns.Fault, error) {
	var out []mockapns.Fault
	err := c.do(ctx, http.MethodGet, "faults", nil, &out)
	return out, err
}

// FailToken makes every push to token fail with reason.
func (c *Client) FailToken(ctx context.Context, token []byte, reason string) error {
	body := map[string]string{"token": hex.EncodeToString(token), "reason": reason}
	return c.do(ctx, http.MethodPost, "fail-token", body, nil)
}

// AllowTopic accepts pushes for topic (a "*" suffix accepts a prefix).
func (c *Client) AllowTopic(ctx context.Context, topic string) error {
	return c.do(ctx, http.MethodPost, "topics", map[string]string{"topic": topic}, nil)
}

// AddProviderKey registers a token-authentication key.
func (c *Client) AddProviderKey(ctx context.Context, keyID, teamID string, pub *ecdsa.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("mockapns control: marshal key: %w", err)
	}
	body := map[string]string{
		"key_id": keyID, "team_id": teamID,
		"public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
	}
	return c.do(ctx, http.MethodPost, "provider-keys", body, nil)
}

// RemoveProviderKey revokes a token-authentication key.
func (c *Client) RemoveProviderKey(ctx context.Context, keyID string) error {
	return c.do(ctx, http.MethodDelete, "provider-keys/"+url.PathEscape(keyID), nil, nil)
}

// SetOnline takes a device off or back on the network.
func (c *Client) SetOnline(ctx context.Context, token []byte, online bool) error {
	return c.do(ctx, http.MethodPost, "devices/"+hex.EncodeToString(token)+"/online", map[string]bool{"online": online}, nil)
}

// UnregisterDevice removes a device token; later pushes get 410.
func (c *Client) UnregisterDevice(ctx context.Context, token []byte) error {
	return c.do(ctx, http.MethodDelete, "devices/"+hex.EncodeToString(token), nil, nil)
}

// Pushes returns the recorded pushes, oldest first.
func (c *Client) Pushes(ctx context.Context) ([]mockapns.Push, error) {
	var out []mockapns.Push
	err := c.do(ctx, http.MethodGet, "pushes", nil, &out)
	return out, err
}

// Stats returns the server's counters.
func (c *Client) Stats(ctx context.Context) (mockapns.Stats, error) {
	var out mockapns.Stats
	err := c.do(ctx, http.MethodGet, "stats", nil, &out)
	return out, err
}

// Reset clears recorded pushes and counters.
func (c *Client) Reset(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "reset", nil, nil)
}

// do sends one request; out is decoded from JSON, or filled raw if it is a
// *bytes.Buffer.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("mockapns control: encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/_mock/"+path, body)
	if err != nil {
		return fmt.Errorf("mockapns control: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("mockapns control: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("mockapns control: %s %s: read: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &Error{Status: resp.StatusCode, Message: msg}
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *bytes.Buffer:
		o.Write(b)
		return nil
	default:
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("mockapns control: %s %s: decode: %w", method, path, err)
		}
		return nil
	}
}
