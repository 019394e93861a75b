package nanomdm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Declaration is a declaration as an operator sends it to KMFDDM:
// ServerToken is usually left empty for KMFDDM to compute.
type Declaration struct {
	Type        string `json:"Type"`
	Identifier  string `json:"Identifier"`
	ServerToken string `json:"ServerToken,omitempty"`
	Payload     any    `json:"Payload"`
}

// DeclarationStatus is KMFDDM's view of one declaration on one enrollment:
// what the device last reported in management.declarations, and whether
// that report is for the declaration's current ServerToken.
type DeclarationStatus struct {
	Identifier     string          `json:"identifier"`
	Active         bool            `json:"active"`
	Valid          string          `json:"valid"`
	ServerToken    string          `json:"server-token"`
	ManifestType   string          `json:"ManifestType,omitempty"`
	Current        bool            `json:"current"`
	StatusReceived time.Time       `json:"status_received"`
	StatusID       string          `json:"status_id,omitempty"`
	Reasons        json.RawMessage `json:"reasons,omitempty"`
}

// StatusValue is one status value KMFDDM extracted from reports (device.*
// and management.* items only).
type StatusValue struct {
	Path      string    `json:"path"`
	Value     string    `json:"value"`
	Timestamp time.Time `json:"timestamp"`
	StatusID  string    `json:"status_id,omitempty"`
}

// DDMClient talks to KMFDDM's /v1 API with HTTP Basic authentication as
// DDMAPIUser. It works against a standalone KMFDDM (at its /v1, e.g.
// http://127.0.0.1:9002/v1) and against the embedded stack
// (refmdm.PathDDMAPI under the stack's URL). Changes answer 204 when they
// changed something and 304 when they did not; both are successes.
type DDMClient struct{ api basicAuthAPI }

// NewDDMClient returns a client of the API rooted at baseURL. A nil hc
// means http.DefaultClient.
func NewDDMClient(baseURL, apiKey string, hc *http.Client) *DDMClient {
	api := newBasicAuthAPI("kmfddm API", baseURL, DDMAPIUser, apiKey, hc)
	api.contentType = "application/json"
	return &DDMClient{api}
}

// change runs a request that answers 204 when it changed something and 304
// when it did not.
func (c *DDMClient) change(ctx context.Context, method, path string, body []byte) (bool, error) {
	code, err := c.api.do(ctx, method, path, body, nil)
	return code == http.StatusNoContent, err
}

// PutDeclaration stores a declaration; KMFDDM notifies the enrollments that
// hold it when it changed.
func (c *DDMClient) PutDeclaration(ctx context.Context, d Declaration) (changed bool, err error) {
	b, err := json.Marshal(d)
	if err != nil {
		return false, fmt.Errorf("%s: declaration %s: %w", c.api.name, d.Identifier, err)
	}
	return c.PutDeclarationJSON(ctx, b)
}

// PutDeclarationJSON stores a declaration given as JSON, byte for byte.
func (c *DDMClient) PutDeclarationJSON(ctx context.Context, raw []byte) (changed bool, err error) {
	return c.change(ctx, http.MethodPut, "/declarations", raw)
}

// GetDeclaration returns a stored declaration as KMFDDM serves it, with
// its ServerToken.
func (c *DDMClient) GetDeclaration(ctx context.Context, id string) ([]byte, error) {
	var out []byte
	_, err := c.api.do(ctx, http.MethodGet, "/declarations/"+url.PathEscape(id), nil, &out)
	return out, err
}

// DeleteDeclaration deletes a declaration that no set holds.
func (c *DDMClient) DeleteDeclaration(ctx context.Context, id string) (changed bool, err error) {
	return c.change(ctx, http.MethodDelete, "/declarations/"+url.PathEscape(id), nil)
}

// TouchDeclaration gives a declaration a new ServerToken, which makes
// devices fetch it again.
func (c *DDMClient) TouchDeclaration(ctx context.Context, id string) error {
	_, err := c.api.do(ctx, http.MethodPost, "/declarations/"+url.PathEscape(id)+"/touch", nil, nil)
	return err
}

// SetDeclarationIDs returns the declarations a set holds.
func (c *DDMClient) SetDeclarationIDs(ctx context.Context, set string) ([]string, error) {
	var ids []string
	_, err := c.api.do(ctx, http.MethodGet, "/set-declarations/"+url.PathEscape(set), nil, &ids)
	return ids, err
}

// PutSetDeclaration adds a declaration to a set.
func (c *DDMClient) PutSetDeclaration(ctx context.Context, set, declarationID string) (changed bool, err error) {
	return c.change(ctx, http.MethodPut, "/set-declarations/"+url.PathEscape(set)+"?declaration="+url.QueryEscape(declarationID), nil)
}

// RemoveSetDeclaration removes a declaration from a set.
func (c *DDMClient) RemoveSetDeclaration(ctx context.Context, set, declarationID string) (changed bool, err error) {
	return c.change(ctx, http.MethodDelete, "/set-declarations/"+url.PathEscape(set)+"?declaration="+url.QueryEscape(declarationID), nil)
}

// SetDeclarations makes set hold exactly ids: it adds the missing ones
// first, then removes the others, so a device never sees the set empty
// while one declaration replaces another.
func (c *DDMClient) SetDeclarations(ctx context.Context, set string, ids ...string) error {
	have, err := c.SetDeclarationIDs(ctx, set)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(have, id) {
			if _, err := c.PutSetDeclaration(ctx, set, id); err != nil {
				return err
			}
		}
	}
	for _, id := range have {
		if !slices.Contains(ids, id) {
			if _, err := c.RemoveSetDeclaration(ctx, set, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// PutEnrollmentSet assigns a set to an enrollment.
func (c *DDMClient) PutEnrollmentSet(ctx context.Context, enrollmentID, set string) (changed bool, err error) {
	return c.change(ctx, http.MethodPut, "/enrollment-sets/"+url.PathEscape(enrollmentID)+"?set="+url.QueryEscape(set), nil)
}

// RemoveEnrollmentSet takes a set from an enrollment.
func (c *DDMClient) RemoveEnrollmentSet(ctx context.Context, enrollmentID, set string) (changed bool, err error) {
	return c.change(ctx, http.MethodDelete, "/enrollment-sets/"+url.PathEscape(enrollmentID)+"?set="+url.QueryEscape(set), nil)
}

// EnrollmentSets returns the sets assigned to an enrollment.
func (c *DDMClient) EnrollmentSets(ctx context.Context, enrollmentID string) ([]string, error) {
	var sets []string
	_, err := c.api.do(ctx, http.MethodGet, "/enrollment-sets/"+url.PathEscape(enrollmentID), nil, &sets)
	return sets, err
}

// DeclarationStatus returns, by enrollment ID, the declaration status the
// enrollments last reported.
func (c *DDMClient) DeclarationStatus(ctx context.Context, enrollmentIDs ...string) (map[string][]DeclarationStatus, error) {
	out := map[string][]DeclarationStatus{}
	_, err := c.api.do(ctx, http.MethodGet, "/declaration-status/"+escapeIDs(enrollmentIDs), nil, &out)
	return out, err
}

// StatusValues returns the status values of enrollments, optionally only
// those under a path prefix such as ".StatusItems.device.".
func (c *DDMClient) StatusValues(ctx context.Context, prefix string, enrollmentIDs ...string) (map[string][]StatusValue, error) {
	out := map[string][]StatusValue{}
	path := "/status-values/" + escapeIDs(enrollmentIDs)
	if prefix != "" {
		path += "?prefix=" + url.QueryEscape(prefix)
	}
	_, err := c.api.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// StatusReport returns an enrollment's raw status report: index 0 is the
// latest, 1 the one before, and so on.
func (c *DDMClient) StatusReport(ctx context.Context, enrollmentID string, index int) ([]byte, error) {
	var out []byte
	_, err := c.api.do(ctx, http.MethodGet, fmt.Sprintf("/status-report/%s?index=%d", url.PathEscape(enrollmentID), index), nil, &out)
	return out, err
}

// Notify asks KMFDDM to notify the enrollments concerned by declarations,
// sets or enrollment IDs, without any change.
func (c *DDMClient) Notify(ctx context.Context, declarations, sets, enrollmentIDs []string) error {
	q := url.Values{}
	for _, d := range declarations {
		q.Add("declaration", d)
	}
	for _, s := range sets {
		q.Add("set", s)
	}
	for _, id := range enrollmentIDs {
		q.Add("id", id)
	}
	_, err := c.api.do(ctx, http.MethodPost, "/notify?"+q.Encode(), nil, nil)
	return err
}
