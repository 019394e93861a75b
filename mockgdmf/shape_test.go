package mockgdmf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// pmvResponse and pmvAsset are written from Apple's documentation of
// GET https://gdmf.apple.com/v2/pmv, independently of the catalog package's
// types, so a drift in either shows here.
type pmvResponse struct {
	PublicAssetSets                      map[string][]pmvAsset `json:"PublicAssetSets"`
	AssetSets                            map[string][]pmvAsset `json:"AssetSets"`
	PublicBackgroundSecurityImprovements map[string][]pmvAsset `json:"PublicBackgroundSecurityImprovements"`
}

type pmvAsset struct {
	ProductVersion      string   `json:"ProductVersion"`
	Build               string   `json:"Build"`
	PostingDate         string   `json:"PostingDate"`
	ExpirationDate      string   `json:"ExpirationDate"`
	SupportedDevices    []string `json:"SupportedDevices"`
	ProductVersionExtra *string  `json:"ProductVersionExtra"`
	PrerequisiteBuild   *string  `json:"PrerequisiteBuild"`
}

func TestPMVDecodesStrictly(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	resp, body := get(t, s, PMVPath, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var doc pmvResponse
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	if dec.More() {
		t.Fatal("trailing data after the document")
	}
	sets := map[string]map[string][]pmvAsset{
		"PublicAssetSets":                      doc.PublicAssetSets,
		"AssetSets":                            doc.AssetSets,
		"PublicBackgroundSecurityImprovements": doc.PublicBackgroundSecurityImprovements,
	}
	for name, set := range sets {
		if set == nil {
			t.Errorf("%s missing", name)
		}
		for platform, assets := range set {
			if !slices.Contains([]string{"iOS", "macOS", "visionOS"}, platform) {
				t.Errorf("%s: unexpected platform key %q", name, platform)
			}
			for _, a := range assets {
				where := fmt.Sprintf("%s.%s %s", name, platform, a.Build)
				if _, err := catalog.ParseVersion(a.ProductVersion); err != nil {
					t.Errorf("%s: ProductVersion: %v", where, err)
				}
				for _, d := range []string{a.PostingDate, a.ExpirationDate} {
					if _, err := time.Parse("2006-01-02", d); err != nil {
						t.Errorf("%s: date %q is not YYYY-MM-DD", where, d)
					}
				}
				if a.Build == "" || len(a.SupportedDevices) == 0 {
					t.Errorf("%s: empty Build or SupportedDevices", where)
				}
				si := name == "PublicBackgroundSecurityImprovements"
				if (a.ProductVersionExtra != nil) != si || (a.PrerequisiteBuild != nil) != si {
					t.Errorf("%s: ProductVersionExtra/PrerequisiteBuild present = %v/%v, want %v",
						where, a.ProductVersionExtra != nil, a.PrerequisiteBuild != nil, si)
				}
			}
		}
	}
}

// shape walks a JSON value and records, for every path (array elements
// collapsed to "[]"), the JSON type and the key sets of the objects there.
func shape(v any, path string, out map[string]map[string]bool) {
	add := func(desc string) {
		if out[path] == nil {
			out[path] = map[string]bool{}
		}
		out[path][desc] = true
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		add("object{" + strings.Join(keys, ",") + "}")
		for k, child := range v {
			shape(child, path+"."+k, out)
		}
	case []any:
		add("array")
		for _, child := range v {
			shape(child, path+"[]", out)
		}
	case string:
		add("string")
	case float64:
		add("number")
	case bool:
		add("bool")
	case nil:
		add("null")
	}
}

func TestPMVMatchesRealAnswer(t *testing.T) {
	t.Parallel()
	real, err := catalog.Snapshot("pmv-2026-08-22.json")
	if err != nil {
		t.Fatal(err)
	}
	var wrapper struct{ Data json.RawMessage }
	if err := json.Unmarshal(real, &wrapper); err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(wrapper.Data, &want); err != nil {
		t.Fatal(err)
	}
	s := newServer(t) // the default catalog, at the snapshot's date
	_, body := get(t, s, PMVPath, nil)
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	wantShape, gotShape := map[string]map[string]bool{}, map[string]map[string]bool{}
	shape(want, "$", wantShape)
	shape(got, "$", gotShape)
	for path, w := range wantShape {
		g, ok := gotShape[path]
		if !ok {
			t.Errorf("%s: missing from the served answer (real: %v)", path, keys(w))
			continue
		}
		if !equalSets(g, w) {
			t.Errorf("%s: served %v, real %v", path, keys(g), keys(w))
		}
	}
	for path, g := range gotShape {
		if _, ok := wantShape[path]; !ok {
			t.Errorf("%s: not in the real answer (served %v)", path, keys(g))
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func equalSets(a, b map[string]bool) bool {
	return slices.Equal(keys(a), keys(b))
}
