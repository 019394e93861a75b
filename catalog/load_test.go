package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawBody returns the pmv body of an embedded snapshot, unwrapped, decoded
// generically (independently of the package's own types).
func rawBody(t testing.TB, name string) map[string]map[string][]map[string]any {
	t.Helper()
	data, err := Snapshot(name)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	if inner, ok := top["data"]; ok {
		data = inner
	}
	var body map[string]map[string][]map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

// entryID is what identifies an entry when comparing answers.
func entryID(set, platform string, e map[string]any) string {
	var devs []string
	for _, d := range e["SupportedDevices"].([]any) {
		devs = append(devs, d.(string))
	}
	slices.Sort(devs)
	return fmt.Sprintf("%s/%s/%v/%v/%v/%v/%v", set, platform, e["ProductVersion"], e["Build"],
		e["ProductVersionExtra"], e["PrerequisiteBuild"], strings.Join(devs, ","))
}

func TestLoadSnapshots(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		wrapped bool
		siKey   string
		at      time.Time
	}{
		{"pmv-2025-10-21.json", true, "PublicRapidSecurityResponses", day(2025, 10, 21)},
		{"pmv-2026-04-12.json", false, "PublicBackgroundSecurityImprovements", day(2026, 4, 12)},
		{"pmv-2026-08-22.json", true, "PublicBackgroundSecurityImprovements", day(2026, 8, 22)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := Snapshot(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(data[:40], []byte(`"etag"`)); got != tt.wrapped {
				t.Fatalf("snapshot wrapped = %v, want %v", got, tt.wrapped)
			}
			c, err := Load(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			raw := rawBody(t, tt.name)
			if _, ok := raw[tt.siKey]; !ok {
				t.Fatalf("snapshot has no %s key", tt.siKey)
			}
			// Rendering the loaded catalog at capture time gives back the
			// same entries (PublicAssetSets posting dates aside: a public
			// entry merges with its AssetSets twin and keeps the earlier date).
			want := map[string]string{}
			for set, platforms := range raw {
				if set == "PublicRapidSecurityResponses" {
					set = string(PublicBackgroundSecurityImprovements)
				}
				for p, entries := range platforms {
					for _, e := range entries {
						date := fmt.Sprint(e["PostingDate"], " ", e["ExpirationDate"])
						if set == string(PublicAssetSets) {
							date = fmt.Sprint(e["ExpirationDate"])
						}
						want[entryID(set, p, e)] = date
					}
				}
			}
			got := map[string]string{}
			docJSON, err := json.Marshal(c.Document(tt.at.Add(24 * time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]map[string][]map[string]any
			if err := json.Unmarshal(docJSON, &doc); err != nil {
				t.Fatal(err)
			}
			for set, platforms := range doc {
				for p, entries := range platforms {
					for _, e := range entries {
						date := fmt.Sprint(e["PostingDate"], " ", e["ExpirationDate"])
						if set == string(PublicAssetSets) {
							date = fmt.Sprint(e["ExpirationDate"])
						}
						id := entryID(set, p, e)
						if _, dup := got[id]; dup {
							t.Errorf("entry twice in the answer: %s", id)
						}
						got[id] = date
					}
				}
			}
			for id, d := range want {
				if g, ok := got[id]; !ok {
					t.Errorf("missing from the rendered answer: %s", id)
				} else if g != d {
					t.Errorf("%s: dates %q, want %q", id, g, d)
				}
			}
			for id := range got {
				if _, ok := want[id]; !ok {
					t.Errorf("not in the snapshot: %s", id)
				}
			}
		})
	}
}

// TestDefaultReproducesRealAnswers checks the merged history against Apple:
// at each real snapshot's date, PublicAssetSets and the security
// improvements match the real answer entry for entry, and AssetSets holds
// every real entry (plus older ones Apple had dropped: ExpirationDate is not
// applied).
func TestDefaultReproducesRealAnswers(t *testing.T) {
	t.Parallel()
	dates := map[string]time.Time{
		"pmv-2025-10-21.json": day(2025, 10, 21),
		"pmv-2026-04-12.json": day(2026, 4, 12),
		"pmv-2026-08-22.json": day(2026, 8, 22),
	}
	for _, name := range SnapshotNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw := rawBody(t, name)
			if rsr, ok := raw["PublicRapidSecurityResponses"]; ok {
				raw[string(PublicBackgroundSecurityImprovements)] = rsr
			}
			docJSON, err := json.Marshal(Default().Document(dates[name].Add(24 * time.Hour)))
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]map[string][]map[string]any
			if err := json.Unmarshal(docJSON, &doc); err != nil {
				t.Fatal(err)
			}
			ids := func(body map[string]map[string][]map[string]any, set string) []string {
				var out []string
				for p, entries := range body[set] {
					for _, e := range entries {
						out = append(out, entryID(set, p, e))
					}
				}
				slices.Sort(out)
				return out
			}
			for _, set := range []string{string(PublicAssetSets), string(PublicBackgroundSecurityImprovements)} {
				if got, want := ids(doc, set), ids(raw, set); !slices.Equal(got, want) {
					t.Errorf("%s:\n got  %v\n want %v", set, got, want)
				}
			}
			have := map[string]bool{}
			for _, id := range ids(doc, string(AssetSets)) {
				have[id] = true
			}
			for _, id := range ids(raw, string(AssetSets)) {
				if !have[id] {
					t.Errorf("AssetSets lacks real entry %s", id)
				}
			}
		})
	}
}

// Between snapshots the public set follows the newest release of each major.
func TestDefaultPublicBetweenSnapshots(t *testing.T) {
	t.Parallel()
	c := Default()
	tests := []struct {
		at   time.Time
		want []string // macOS public builds
	}{
		{day(2026, 1, 15), []string{"25C56", "24G419", "23J220", "22H730", "21H1320", "20G1427"}},
		{day(2026, 6, 15), []string{"25F80", "24G720", "23J520", "22H730", "21H1320", "20G1443"}},
		{day(2026, 8, 12), []string{"25G76", "24G830", "23J631", "22H730", "21H1320", "20G1443"}},
	}
	for _, tt := range tests {
		var got []string
		for _, a := range c.Document(tt.at).PublicAssetSets[MacOS] {
			got = append(got, a.Build)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("at %s: public macOS %v, want %v", tt.at.Format(DateLayout), got, tt.want)
		}
	}
	// A release posted as not public never shows publicly.
	c.Post(Release{Platform: MacOS, ProductVersion: "26.7", Build: "25H5", SupportedDevices: []string{"J413AP"}}, day(2026, 8, 20))
	for _, a := range c.Document(day(2026, 8, 22)).PublicAssetSets[MacOS] {
		if a.Build == "25H5" {
			t.Error("non-public posted release in PublicAssetSets")
		}
	}
}

func TestLoadShapes(t *testing.T) {
	t.Parallel()
	entry := `{"ProductVersion":"26.1","Build":"25B78","PostingDate":"2025-11-03","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP","J274AP"]}`
	bsi := `{"ProductVersion":"26.1","Build":"25B771234a","ProductVersionExtra":"(a)","PrerequisiteBuild":"25B78","PostingDate":"2025-11-20","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP"]}`
	tests := []struct {
		name   string
		body   string
		public int
		assets int
		si     int
	}{
		{"current", `{"PublicAssetSets":{"macOS":[` + entry + `]},"AssetSets":{"macOS":[` + entry + `]},"PublicBackgroundSecurityImprovements":{"macOS":[` + bsi + `]}}`, 1, 1, 1},
		{"rsr key", `{"PublicAssetSets":{},"AssetSets":{"macOS":[` + entry + `]},"PublicRapidSecurityResponses":{"macOS":[` + bsi + `]}}`, 0, 1, 1},
		{"empty rsr", `{"PublicAssetSets":{"macOS":[` + entry + `]},"AssetSets":{"macOS":[` + entry + `]},"PublicRapidSecurityResponses":{}}`, 1, 1, 0},
		{"wrapped", `{"etag":"abc","data":{"PublicAssetSets":{"macOS":[` + entry + `]},"AssetSets":{"macOS":[` + entry + `]}}}`, 1, 1, 0},
		{"xrOS key", `{"AssetSets":{"xrOS":[` + strings.Replace(entry, "J413AP", "RealityDevice14,1", 1) + `]}}`, 0, 1, 0},
		{"public only", `{"PublicAssetSets":{"macOS":[` + entry + `]}}`, 1, 0, 0},
		{"unknown keys ignored", `{"Extra":1,"AssetSets":{"macOS":[` + entry + `]}}`, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			doc := c.Document(day(2026, 1, 1)) // every entry is live: posted, not expired
			count := func(m map[Platform][]Asset) int {
				n := 0
				for _, l := range m {
					n += len(l)
				}
				return n
			}
			if got := count(doc.PublicAssetSets); got != tt.public {
				t.Errorf("PublicAssetSets has %d entries, want %d", got, tt.public)
			}
			if got := count(doc.AssetSets); got != tt.assets {
				t.Errorf("AssetSets has %d entries, want %d", got, tt.assets)
			}
			if got := count(doc.PublicBackgroundSecurityImprovements); got != tt.si {
				t.Errorf("security improvements: %d entries, want %d", got, tt.si)
			}
			if tt.name == "xrOS key" && len(doc.AssetSets[VisionOS]) != 1 {
				t.Errorf("xrOS not mapped to visionOS: %+v", doc.AssetSets)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	good := func(field, value string) string {
		e := map[string]any{"ProductVersion": "26.1", "Build": "25B78", "PostingDate": "2025-11-03",
			"ExpirationDate": "2026-05-02", "SupportedDevices": []string{"J413AP"}}
		e[field] = value
		b, _ := json.Marshal(map[string]any{"AssetSets": map[string]any{"macOS": []any{e}}})
		return string(b)
	}
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not json", `<html>`},
		{"array", `[]`},
		{"truncated", `{"AssetSets":{"macOS":[{"ProductVersion":"26.1"`},
		{"no sets", `{"etag":"x","data":{"foo":{}}}`},
		{"bad data", `{"etag":"x","data":"nope"}`},
		{"set not object", `{"AssetSets":[]}`},
		{"entries not array", `{"AssetSets":{"macOS":{}}}`},
		{"bad version", good("ProductVersion", "twenty-six")},
		{"empty build", good("Build", "")},
		{"bad posting date", good("PostingDate", "2025-13-01")},
		{"bad expiration date", good("ExpirationDate", "soon")},
		{"empty platform", `{"AssetSets":{"":[{"ProductVersion":"26.1","Build":"1A1","PostingDate":"2025-01-01","ExpirationDate":"2025-01-02","SupportedDevices":[]}]}}`},
		{"devices not strings", `{"AssetSets":{"macOS":[{"ProductVersion":"26.1","Build":"1A1","PostingDate":"2025-01-01","SupportedDevices":[1]}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(strings.NewReader(tt.body))
			if !errors.Is(err, ErrNotPMV) {
				t.Fatalf("Load = %v, %v; want ErrNotPMV", c, err)
			}
		})
	}
}

// fuzzMaxInput bounds what FuzzLoad hands to Load. Load is linear (n log n
// at worst, sorting ties) in its input, but a full 137 KB snapshot costs
// ~5 ms an exec and the fuzzer then spends minutes mutating and minimising
// it: small inputs reach the same code, thousands of times a second. The
// full snapshots are checked by TestLoadSnapshots.
const fuzzMaxInput = 16 << 10

// trimmedSnapshot is a real snapshot cut down to a seed: per set and
// platform the first entry plus the first two Mac14,2 (J413AP) can install,
// each with at most three devices (J413AP kept), in Apple's shape and
// wrapping. A few KB, so every mutation still looks like a GDMF answer.
func trimmedSnapshot(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := Snapshot(name)
	if err != nil {
		tb.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		tb.Fatal(err)
	}
	body := data
	inner, wrapped := top["data"]
	if wrapped {
		body = inner
	}
	var sets map[string]map[string][]map[string]any
	if err := json.Unmarshal(body, &sets); err != nil {
		tb.Fatal(err)
	}
	const dev = "J413AP"
	for _, platforms := range sets {
		for p, entries := range platforms {
			var kept []map[string]any
			macs := 0
			for i, e := range entries {
				devs, _ := e["SupportedDevices"].([]any)
				mac := slices.Contains(devs, any(dev))
				if i > 0 && (!mac || macs == 2) {
					continue
				}
				if mac {
					macs++
				}
				if len(devs) > 3 {
					devs = devs[:3:3]
					if mac && !slices.Contains(devs, any(dev)) {
						devs[2] = dev
					}
				}
				e["SupportedDevices"] = devs
				kept = append(kept, e)
			}
			platforms[p] = kept
		}
	}
	out, err := json.Marshal(sets)
	if err != nil {
		tb.Fatal(err)
	}
	if wrapped {
		out, err = json.Marshal(map[string]any{"etag": "9494a6", "data": json.RawMessage(out)})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

func TestTrimmedSnapshotsLoad(t *testing.T) {
	t.Parallel()
	m, _ := LookupModel("Mac14,2")
	for _, name := range SnapshotNames() {
		seed := trimmedSnapshot(t, name)
		if len(seed) > fuzzMaxInput/2 {
			t.Errorf("%s: seed is %d bytes, want a small one", name, len(seed))
		}
		c, err := Load(bytes.NewReader(seed))
		if err != nil {
			t.Fatalf("%s: Load(trimmed): %v", name, err)
		}
		if len(c.ShippedBuilds(m)) == 0 {
			t.Errorf("%s: trimmed seed has no Mac14,2 release", name)
		}
	}
}

func FuzzLoad(f *testing.F) {
	for _, name := range SnapshotNames() {
		seed := trimmedSnapshot(f, name)
		f.Add(seed)
		f.Add(seed[:len(seed)/2])
	}
	f.Add([]byte(`{"AssetSets":{"macOS":[{"ProductVersion":"26.1","Build":"25B78","PostingDate":"2025-11-03","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP"]}]}}`))
	f.Add([]byte(`{"etag":"","data":{"PublicRapidSecurityResponses":{"iOS":[{"ProductVersion":"18.7","Build":"1A","PostingDate":"2025-01-01","SupportedDevices":null}]},"PublicAssetSets":{}}}`))
	f.Add([]byte(`{"PublicAssetSets":{"macOS":[{"ProductVersion":"26.1","Build":"25B78","PostingDate":"2025-11-03","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP"]}]},"AssetSets":{"xrOS":[{"ProductVersion":"26.1","Build":"23B78","PostingDate":"2025-11-03","ExpirationDate":"","SupportedDevices":["RealityDevice14,1"]}]},"PublicBackgroundSecurityImprovements":{"macOS":[{"ProductVersion":"26.1","Build":"25B771234a","ProductVersionExtra":"(a)","PrerequisiteBuild":"25B78","PostingDate":"2025-11-20","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP"]}]}}`))
	m, _ := LookupModel("Mac14,2")
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			return
		}
		c, err := Load(bytes.NewReader(data))
		if err != nil {
			if c != nil {
				t.Fatal("catalog returned with an error")
			}
			if !errors.Is(err, ErrNotPMV) {
				t.Fatalf("Load error %v does not wrap ErrNotPMV", err)
			}
			return
		}
		// Whatever loads must render and answer queries without panicking.
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := json.Marshal(c.Document(at)); err != nil {
			t.Fatal(err)
		}
		for _, r := range c.Installable(m, Version{14, 0, 0}, "23A344", at) {
			_ = r.ProductKey(Version{14, 0, 0}, "23A344")
			_ = r.DownloadSize(m, Version{14, 0, 0})
			_ = r.HumanReadableName(m)
		}
		c.ShippedBuilds(m)
	})
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
