package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ErrNotPMV is returned (wrapped) by Load for input that is not a GDMF
// /v2/pmv body.
var ErrNotPMV = errors.New("catalog: not a GDMF pmv document")

// MaxDocumentSize bounds what Load reads; real answers are ~150 KB.
const MaxDocumentSize = 32 << 20

// DateLayout is how GDMF writes PostingDate and ExpirationDate.
const DateLayout = "2006-01-02"

// Document is the body of GET /v2/pmv, in Apple's shape. Its JSON encoding is
// what the mock GDMF serves.
type Document struct {
	PublicAssetSets                      map[Platform][]Asset `json:"PublicAssetSets"`
	AssetSets                            map[Platform][]Asset `json:"AssetSets"`
	PublicBackgroundSecurityImprovements map[Platform][]Asset `json:"PublicBackgroundSecurityImprovements"`
}

// Asset is one entry of a Document set.
type Asset struct {
	ProductVersion      string   `json:"ProductVersion"`
	Build               string   `json:"Build"`
	ProductVersionExtra string   `json:"ProductVersionExtra,omitempty"`
	PrerequisiteBuild   string   `json:"PrerequisiteBuild,omitempty"`
	PostingDate         string   `json:"PostingDate"`
	ExpirationDate      string   `json:"ExpirationDate"`
	SupportedDevices    []string `json:"SupportedDevices"`
}

// wireDocument accepts every shape seen in the wild: the current one, the
// older PublicRapidSecurityResponses key, and "xrOS" for visionOS.
type wireDocument struct {
	PublicAssetSets                      map[string][]Asset `json:"PublicAssetSets"`
	AssetSets                            map[string][]Asset `json:"AssetSets"`
	PublicBackgroundSecurityImprovements map[string][]Asset `json:"PublicBackgroundSecurityImprovements"`
	PublicRapidSecurityResponses         map[string][]Asset `json:"PublicRapidSecurityResponses"`
}

// Load reads a GDMF /v2/pmv body: the current shape, the older one with
// PublicRapidSecurityResponses, or either wrapped as {"etag":…, "data":…}
// (how SOFA archives it). The catalog it returns has no timeline events.
func Load(r io.Reader) (*Catalog, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("catalog: load: %w", err)
	}
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrNotPMV, MaxDocumentSize)
	}
	rels, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	c := &Catalog{}
	c.add(rels)
	return c, nil
}

func parseDocument(data []byte) ([]Release, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPMV, err)
	}
	if _, ok := top[string(AssetSets)]; !ok {
		if inner, ok := top["data"]; ok {
			if err := json.Unmarshal(inner, &top); err != nil {
				return nil, fmt.Errorf("%w: data: %v", ErrNotPMV, err)
			}
			data = inner
		}
	}
	_, hasAssets := top[string(AssetSets)]
	_, hasPublic := top[string(PublicAssetSets)]
	if !hasAssets && !hasPublic {
		return nil, fmt.Errorf("%w: neither AssetSets nor PublicAssetSets present", ErrNotPMV)
	}
	var doc wireDocument
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPMV, err)
	}
	var out []Release
	for _, s := range []struct {
		set AssetSet
		m   map[string][]Asset
	}{
		{PublicAssetSets, doc.PublicAssetSets},
		{AssetSets, doc.AssetSets},
		{PublicBackgroundSecurityImprovements, doc.PublicBackgroundSecurityImprovements},
		{PublicRapidSecurityResponses, doc.PublicRapidSecurityResponses},
	} {
		si := s.set == PublicBackgroundSecurityImprovements || s.set == PublicRapidSecurityResponses
		for _, p := range sortedKeys(s.m) {
			for i, a := range s.m[p] {
				r, err := a.release(platformKey(p), si)
				if err != nil {
					return nil, fmt.Errorf("%w: %s.%s[%d]: %v", ErrNotPMV, s.set, p, i, err)
				}
				// A public entry stays public-only until an identical
				// AssetSets entry merges into it (see Catalog.add).
				r.Public = s.set == PublicAssetSets
				r.publicOnly = r.Public
				r.inferPublic = s.set == AssetSets
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// platformKey maps the older "xrOS" key to visionOS and keeps every other
// key as it is (Apple may add platforms).
func platformKey(k string) Platform {
	if k == "xrOS" {
		return VisionOS
	}
	return Platform(k)
}

func (a Asset) release(p Platform, securityImprovement bool) (Release, error) {
	if p == "" {
		return Release{}, errors.New("empty platform key")
	}
	if _, err := ParseVersion(a.ProductVersion); err != nil {
		return Release{}, err
	}
	if a.Build == "" || len(a.Build) > 64 {
		return Release{}, fmt.Errorf("bad Build %q", a.Build)
	}
	posted, err := time.Parse(DateLayout, a.PostingDate)
	if err != nil {
		return Release{}, fmt.Errorf("PostingDate: %v", err)
	}
	var expires time.Time
	if a.ExpirationDate != "" {
		if expires, err = time.Parse(DateLayout, a.ExpirationDate); err != nil {
			return Release{}, fmt.Errorf("ExpirationDate: %v", err)
		}
	}
	devs := slices.Clone(a.SupportedDevices)
	slices.Sort(devs)
	devs = slices.Clip(slices.Compact(devs))
	return Release{
		Platform:            p,
		ProductVersion:      a.ProductVersion,
		Build:               a.Build,
		PostingDate:         posted,
		ExpirationDate:      expires,
		SupportedDevices:    devs,
		ProductVersionExtra: a.ProductVersionExtra,
		PrerequisiteBuild:   a.PrerequisiteBuild,
		SecurityImprovement: securityImprovement,
	}, nil
}

func asset(r Release) Asset {
	a := Asset{
		ProductVersion: r.ProductVersion,
		Build:          r.Build,
		PostingDate:    r.PostingDate.UTC().Format(DateLayout),
		ExpirationDate: r.ExpirationDate.UTC().Format(DateLayout),
		// A copy: the catalog's slices must not leak to callers of Document.
		SupportedDevices: append([]string{}, r.SupportedDevices...),
	}
	if r.SecurityImprovement {
		a.ProductVersionExtra = r.ProductVersionExtra
		a.PrerequisiteBuild = r.PrerequisiteBuild
	}
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, strings.Compare)
	return ks
}
