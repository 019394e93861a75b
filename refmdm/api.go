package refmdm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// APIClient talks to NanoMDM's /v1 API (pushcert, enqueue, push) with HTTP
// Basic authentication as user "nanomdm". It works against the embedded
// stack and against any NanoMDM server.
type APIClient struct{ basicAuthAPI }

// NewAPIClient returns a client for the API rooted at base (…/v1).
func NewAPIClient(base, apiKey string, client *http.Client) *APIClient {
	return &APIClient{newBasicAuthAPI("api", base, DefaultUser, apiKey, client)}
}

// basicAuthAPI is what NanoMDM's and KMFDDM's APIs have in common: a base
// URL, HTTP Basic authentication, JSON answers.
type basicAuthAPI struct {
	name, base, user, key string
	contentType           string // of request bodies; "" sends none
	client                *http.Client
}

func newBasicAuthAPI(name, base, user, key string, client *http.Client) basicAuthAPI {
	if client == nil {
		client = http.DefaultClient
	}
	return basicAuthAPI{name: name, base: strings.TrimSuffix(base, "/"), user: user, key: key, client: client}
}

// maxAPIAnswer bounds an API answer the client reads.
const maxAPIAnswer = 64 << 20

// do sends one request and returns the status code. 2xx, 207 (some IDs
// failed) and 304 (nothing changed) are answers; anything else is an error,
// with the body still decoded into out when it is JSON (NanoMDM explains
// per-ID failures there). out may be nil, a *[]byte for the raw body, or a
// value to decode JSON into.
func (c basicAuthAPI) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("refmdm: %s: %w", c.name, err)
	}
	req.SetBasicAuth(c.user, c.key)
	if body != nil && c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("refmdm: %s %s %s: %w", c.name, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("refmdm: %s %s %s: %w", c.name, method, path, err)
	}
	failed := resp.StatusCode >= 300 && resp.StatusCode != http.StatusMultiStatus && resp.StatusCode != http.StatusNotModified
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = data
	default:
		if len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil && !failed {
				return resp.StatusCode, fmt.Errorf("refmdm: %s %s %s: decode: %w", c.name, method, path, err)
			}
		}
	}
	if failed {
		return resp.StatusCode, fmt.Errorf("refmdm: %s %s %s: HTTP %d: %s", c.name, method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	return resp.StatusCode, nil
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

// UploadPushCert stores a push certificate and key (PEM) and returns its topic.
func (c *APIClient) UploadPushCert(ctx context.Context, certPEM, keyPEM []byte) (string, error) {
	var out struct {
		Topic string `json:"topic"`
	}
	body := append(append([]byte{}, certPEM...), keyPEM...)
	if _, err := c.do(ctx, http.MethodPut, "/pushcert", body, &out); err != nil {
		return "", err
	}
	return out.Topic, nil
}

// Enqueue queues a raw command plist for the enrollments and pushes them
// (unless noPush). NanoMDM stores a command once, by UUID, so all IDs go in
// one request: the ID list is in the path, and the embedded stack accepts
// headers large enough for a six-figure fleet.
func (c *APIClient) Enqueue(ctx context.Context, ids []string, command []byte, noPush bool) (*APIResult, error) {
	path := "/enqueue/" + escapeIDs(ids)
	if noPush {
		path += "?nopush=1"
	}
	var res APIResult
	_, err := c.do(ctx, http.MethodPut, path, command, &res)
	if res.Status == nil {
		res.Status = map[string]APIStatus{}
	}
	return &res, err
}

// Push asks the server to push to the enrollments.
func (c *APIClient) Push(ctx context.Context, ids []string) (*APIResult, error) {
	merged := &APIResult{Status: map[string]APIStatus{}}
	for start := 0; start < len(ids); start += maxBatch {
		batch := ids[start:min(start+maxBatch, len(ids))]
		var res APIResult
		_, err := c.do(ctx, http.MethodPost, "/push/"+escapeIDs(batch), nil, &res)
		for id, st := range res.Status {
			merged.Status[id] = st
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
