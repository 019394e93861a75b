package nanomdm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// HTTP Basic users of the APIs; the password is the server's API key.
const (
	// APIUser is the user of NanoMDM's /v1 API.
	APIUser = "nanomdm"
	// DDMAPIUser is the user of KMFDDM's /v1 API.
	DDMAPIUser = "kmfddm"
)

// ErrUnauthorized matches (errors.Is) an *APIError whose status is 401 or
// 403: the server refused the API key.
var ErrUnauthorized = errors.New("unauthorized")

// APIError is an answer the client could not use: an HTTP status that is
// not an answer (anything but 2xx, 207 and 304), or a success it could not
// read (Err says why). Errors below HTTP (connection refused, TLS, timeouts)
// are not APIErrors: they wrap the transport's error, so errors.Is(err,
// syscall.ECONNREFUSED) and errors.As(err, &*tls.CertificateVerificationError)
// work on them.
type APIError struct {
	// API names the server's API, e.g. "nanomdm API" or "kmfddm API".
	API string
	// Method and Path are the request's (the path without its query, and
	// shortened when very long: enqueue puts enrollment IDs in it).
	Method, Path string
	// StatusCode and Status are the answer's, e.g. 401 and "401 Unauthorized".
	StatusCode int
	Status     string
	// Body is the start of the answer's body, at most maxErrorBody bytes.
	Body []byte
	// Err, when set, is why a success could not be read (bad JSON, too big).
	Err error
}

// maxErrorBody bounds the part of a body an APIError keeps.
const maxErrorBody = 512

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: HTTP %s", e.API, e.Method, e.Path, e.Status)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if s := printable(e.Body); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

// Unwrap returns why a success could not be read, if that is the error.
func (e *APIError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnauthorized) true for 401 and 403.
func (e *APIError) Is(target error) bool {
	return target == ErrUnauthorized && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// printable makes the start of a hostile body safe to print on one line.
func printable(b []byte) string {
	b = bytes.TrimSpace(b)
	truncated := len(b) > maxErrorBody
	if truncated {
		b = b[:maxErrorBody]
	}
	s := strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(b), "�"))
	if truncated {
		s += "…"
	}
	return s
}

// basicAuthAPI is what NanoMDM's and KMFDDM's APIs have in common: a base
// URL, HTTP Basic authentication, JSON answers.
type basicAuthAPI struct {
	name, base, user, key string
	contentType           string // of request bodies; "" sends none
	client                *http.Client
	maxAnswer             int64
}

// maxAnswer bounds an answer the client reads: an enqueue to a six-figure
// fleet answers with a status per enrollment, tens of megabytes.
const maxAnswer = 64 << 20

func newBasicAuthAPI(name, base, user, key string, client *http.Client) basicAuthAPI {
	if client == nil {
		client = http.DefaultClient
	}
	return basicAuthAPI{name: name, base: strings.TrimSuffix(base, "/"), user: user, key: key, client: client, maxAnswer: maxAnswer}
}

// maxErrorPath bounds the request path an error message repeats.
const maxErrorPath = 160

// do sends one request and returns the status code. 2xx, 207 (some IDs
// failed) and 304 (nothing changed) are answers; anything else is an
// *APIError, with the body still decoded into out when it is JSON (NanoMDM
// explains per-ID failures there). out may be nil, a *[]byte for the raw
// body, or a value to decode JSON into.
func (c basicAuthAPI) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s: %s %s: %w", c.name, method, shorten(c.base+path), err)
	}
	req.SetBasicAuth(c.user, c.key)
	if body != nil && c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	reqPath := shorten(req.URL.EscapedPath())
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %s %s: %w", c.name, method, reqPath, err)
	}
	defer resp.Body.Close()
	apiErr := func(cause error, data []byte) *APIError {
		return &APIError{API: c.name, Method: method, Path: reqPath, StatusCode: resp.StatusCode,
			Status: statusText(resp), Body: head(data), Err: cause}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxAnswer+1))
	if err != nil {
		return resp.StatusCode, apiErr(fmt.Errorf("read answer: %w", err), data)
	}
	if int64(len(data)) > c.maxAnswer {
		return resp.StatusCode, apiErr(fmt.Errorf("answer larger than %d bytes", c.maxAnswer), data)
	}
	failed := resp.StatusCode < 200 || resp.StatusCode >= 300 &&
		resp.StatusCode != http.StatusMultiStatus && resp.StatusCode != http.StatusNotModified
	var decodeErr error
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = data
	default:
		if len(bytes.TrimSpace(data)) > 0 {
			decodeErr = json.Unmarshal(data, out)
		}
	}
	if failed {
		return resp.StatusCode, apiErr(nil, data)
	}
	if decodeErr != nil {
		return resp.StatusCode, apiErr(fmt.Errorf("decode answer: %w", decodeErr), data)
	}
	return resp.StatusCode, nil
}

func statusText(resp *http.Response) string {
	if t := http.StatusText(resp.StatusCode); t != "" {
		return fmt.Sprintf("%d %s", resp.StatusCode, t)
	}
	return fmt.Sprint(resp.StatusCode)
}

func head(b []byte) []byte {
	if len(b) > maxErrorBody+1 {
		b = b[:maxErrorBody+1] // one more: printable marks the cut
	}
	return append([]byte(nil), b...)
}

func shorten(p string) string {
	if len(p) > maxErrorPath {
		return p[:maxErrorPath] + "…"
	}
	return p
}

// Client talks to NanoMDM's /v1 API (pushcert, enqueue, push) with HTTP
// Basic authentication as APIUser. It works against any NanoMDM server and
// against the embedded stack (refmdm.PathAPI under the stack's URL).
type Client struct{ api basicAuthAPI }

// NewClient returns a client of the API rooted at baseURL, e.g.
// http://127.0.0.1:9000/v1. A nil hc means http.DefaultClient.
func NewClient(baseURL, apiKey string, hc *http.Client) *Client {
	return &Client{newBasicAuthAPI("nanomdm API", baseURL, APIUser, apiKey, hc)}
}

// APIStatus is one enrollment's outcome in an enqueue or push answer.
type APIStatus struct {
	PushResult   string `json:"push_result,omitempty"`
	PushError    string `json:"push_error,omitempty"`
	CommandError string `json:"command_error,omitempty"`
}

// APIResult is NanoMDM's answer to enqueue and push.
type APIResult struct {
	Status       map[string]APIStatus `json:"status,omitempty"`
	NoPush       bool                 `json:"no_push,omitempty"`
	PushError    string               `json:"push_error,omitempty"`
	CommandError string               `json:"command_error,omitempty"`
	CommandUUID  string               `json:"command_uuid,omitempty"`
	RequestType  string               `json:"request_type,omitempty"`
}

// maxBatch keeps the comma-separated ID list of one push request to a sane URL length.
const maxBatch = 1000

// UploadPushCert stores a push certificate and its key (PEM) and returns
// the topic the server read from the certificate.
func (c *Client) UploadPushCert(ctx context.Context, certPEM, keyPEM []byte) (string, error) {
	var out struct {
		Topic string `json:"topic"`
	}
	body := append(append(append([]byte{}, certPEM...), '\n'), keyPEM...)
	if _, err := c.api.do(ctx, http.MethodPut, "/pushcert", body, &out); err != nil {
		return "", err
	}
	if out.Topic == "" {
		return "", fmt.Errorf("%s: PUT /pushcert: answer has no topic", c.api.name)
	}
	return out.Topic, nil
}

// Enqueue queues a raw command plist for the enrollments and pushes them
// (unless noPush). NanoMDM stores a command once, by UUID, so all IDs go in
// one request, in its path: a server with net/http's default header limit
// (1 MB) takes about 25 000 UUIDs at once. Some IDs failing (HTTP 207) is
// an answer, not an error: Status says which; all failing is an *APIError,
// and the result still holds what the server said.
func (c *Client) Enqueue(ctx context.Context, ids []string, commandPlist []byte, noPush bool) (*APIResult, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: enqueue: no enrollment IDs", c.api.name)
	}
	path := "/enqueue/" + escapeIDs(ids)
	if noPush {
		path += "?nopush=1"
	}
	var res APIResult
	_, err := c.api.do(ctx, http.MethodPut, path, commandPlist, &res)
	if res.Status == nil {
		res.Status = map[string]APIStatus{}
	}
	return &res, err
}

// Push asks the server to push to the enrollments, a thousand per request.
func (c *Client) Push(ctx context.Context, ids []string) (*APIResult, error) {
	merged := &APIResult{Status: map[string]APIStatus{}}
	for start := 0; start < len(ids); start += maxBatch {
		batch := ids[start:min(start+maxBatch, len(ids))]
		var res APIResult
		_, err := c.api.do(ctx, http.MethodPost, "/push/"+escapeIDs(batch), nil, &res)
		for id, st := range res.Status {
			merged.Status[id] = st
		}
		if res.PushError != "" {
			merged.PushError = res.PushError
		}
		if err != nil {
			return merged, err
		}
	}
	return merged, nil
}

func escapeIDs(ids []string) string {
	esc := make([]string, len(ids))
	for i, id := range ids {
		esc[i] = url.PathEscape(id)
	}
	return strings.Join(esc, ",")
}
