package mockgdmf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// Posting is a release a scenario posts on its timeline through the
// control API: Apple's fields, and when it appears (At). It may be a
// release that does not exist yet, such as a 27.0.
type Posting struct {
	Platform         catalog.Platform `json:"platform"`
	ProductVersion   string           `json:"product_version"`
	Build            string           `json:"build"`
	SupportedDevices []string         `json:"supported_devices"`
	// At is when it is posted (RFC 3339); its UTC date is PostingDate.
	At time.Time `json:"at"`
	// ExpirationDate (YYYY-MM-DD) defaults to PostingDate +
	// catalog.DefaultExpiration.
	ExpirationDate string `json:"expiration_date,omitempty"`
	// Public lists it in PublicAssetSets too.
	Public bool `json:"public,omitempty"`
}

// maxPostedDevices bounds a posting's device list (Apple's longest lists
// have a few hundred entries).
const maxPostedDevices = 4096

// Release checks a posting and returns the catalog release it posts.
func (p Posting) Release() (catalog.Release, error) {
	switch p.Platform {
	case catalog.MacOS, catalog.IOS, catalog.VisionOS:
	default:
		return catalog.Release{}, fmt.Errorf("platform %q: want %s, %s or %s", p.Platform, catalog.MacOS, catalog.IOS, catalog.VisionOS)
	}
	if _, err := catalog.ParseVersion(p.ProductVersion); err != nil {
		return catalog.Release{}, fmt.Errorf("product_version %q: %v", p.ProductVersion, err)
	}
	if p.Build == "" || len(p.Build) > 32 {
		return catalog.Release{}, errors.New("build: want 1 to 32 characters")
	}
	if len(p.SupportedDevices) == 0 || len(p.SupportedDevices) > maxPostedDevices {
		return catalog.Release{}, fmt.Errorf("supported_devices: want 1 to %d devices, have %d", maxPostedDevices, len(p.SupportedDevices))
	}
	for _, d := range p.SupportedDevices {
		if d == "" || len(d) > 64 {
			return catalog.Release{}, fmt.Errorf("supported_devices: %q is not a device identifier", d)
		}
	}
	if p.At.IsZero() {
		return catalog.Release{}, errors.New("at: required (RFC 3339)")
	}
	r := catalog.Release{Platform: p.Platform, ProductVersion: p.ProductVersion, Build: p.Build,
		SupportedDevices: p.SupportedDevices, Public: p.Public}
	if p.ExpirationDate != "" {
		exp, err := time.Parse(catalog.DateLayout, p.ExpirationDate)
		if err != nil {
			return catalog.Release{}, fmt.Errorf("expiration_date %q: want YYYY-MM-DD", p.ExpirationDate)
		}
		if !exp.After(p.At) {
			return catalog.Release{}, fmt.Errorf("expiration_date %s is not after at", p.ExpirationDate)
		}
		r.ExpirationDate = exp
	}
	return r, nil
}

// Post posts a release on the served catalog's timeline (catalog.Post):
// the answer lists it from p.At until its expiration.
func (s *Server) Post(p Posting) error {
	r, err := p.Release()
	if err != nil {
		return fmt.Errorf("mockgdmf: post: %w", err)
	}
	s.catalog.Post(r, p.At)
	return nil
}

// handleReleases serves /_mock/releases: POST posts a Posting.
func (s *Server) handleReleases(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		controlError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path)
		return
	}
	body, ok := readControlBody(w, r)
	if !ok {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var p Posting
	if err := dec.Decode(&p); err != nil {
		controlError(w, http.StatusBadRequest, "posting: %v", err)
		return
	}
	if err := s.Post(p); err != nil {
		controlError(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
