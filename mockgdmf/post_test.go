package mockgdmf

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
)

// builds lists the AssetSets builds of a platform the server answers now.
func servedBuilds(t *testing.T, s *Server, platform catalog.Platform) []string {
	t.Helper()
	rec := serve(s, http.MethodGet, PMVPath, "", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d", PMVPath, rec.Code)
	}
	var doc catalog.Document
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range doc.AssetSets[platform] {
		out = append(out, a.Build)
	}
	return out
}

// TestPostReleaseControl: a release posted through /_mock/releases (one that
// does not exist, iOS 27.0) is served from its time on and not before, and
// leaves the answer on its expiration date, like every asset.
func TestPostReleaseControl(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: snapshotDay}
	s := newServer(t, WithCatalog(catalog.Default()), WithNow(clk.Now))
	body := `{"platform":"iOS","product_version":"27.0","build":"24A330","supported_devices":["iPhone15,2"],
		"at":"2026-09-03T00:00:00Z","expiration_date":"2026-12-01","public":true}`
	if rec := serve(s, http.MethodPost, ControlPrefix+"releases", body, nil); rec.Code != http.StatusOK {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	has := func() bool {
		for _, b := range servedBuilds(t, s, catalog.IOS) {
			if b == "24A330" {
				return true
			}
		}
		return false
	}
	if has() {
		t.Error("27.0 served before it is posted")
	}
	clk.Set(time.Date(2026, 9, 3, 8, 0, 0, 0, time.UTC))
	if !has() {
		t.Error("27.0 not served once posted")
	}
	clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if has() {
		t.Error("27.0 still served on its expiration date")
	}
}

// TestExpiredAssetsNotServed: on each day, nothing past its
// ExpirationDate is in the answer.
func TestExpiredAssetsNotServed(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: snapshotDay}
	s := newServer(t, WithCatalog(catalog.Default()), WithNow(clk.Now))
	for _, at := range []time.Time{snapshotDay, snapshotDay.AddDate(0, 0, 8), snapshotDay.AddDate(0, 3, 0)} {
		clk.Set(at)
		rec := serve(s, http.MethodGet, PMVPath, "", nil)
		var doc catalog.Document
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		for _, set := range []map[catalog.Platform][]catalog.Asset{doc.AssetSets, doc.PublicAssetSets, doc.PublicBackgroundSecurityImprovements} {
			for p, assets := range set {
				for _, a := range assets {
					if a.ExpirationDate <= at.Format(catalog.DateLayout) {
						t.Errorf("at %s: %s %s served, expired %s", at.Format(catalog.DateLayout), p, a.Build, a.ExpirationDate)
					}
				}
			}
		}
	}
	// 26.5 (25F71) expires 2026-08-30.
	clk.Set(time.Date(2026, 8, 29, 23, 0, 0, 0, time.UTC))
	if b := servedBuilds(t, s, catalog.MacOS); !strings.Contains(strings.Join(b, " "), "25F71") {
		t.Errorf("25F71 gone the day before it expires: %v", b)
	}
	clk.Set(time.Date(2026, 8, 30, 0, 0, 0, 0, time.UTC))
	if b := servedBuilds(t, s, catalog.MacOS); strings.Contains(strings.Join(b, " "), "25F71") {
		t.Errorf("25F71 served on its expiration date: %v", b)
	}
}

func TestPostReleaseControlRefusesBadInput(t *testing.T) {
	t.Parallel()
	s := newServer(t, WithCatalog(catalog.Default()))
	good := `"platform":"iOS","product_version":"27.0","build":"24A330","supported_devices":["iPhone15,2"],"at":"2026-09-03T00:00:00Z"`
	for _, tt := range []struct{ name, body, want string }{
		{"not json", `{`, "posting"},
		{"wrong type", `{"platform":1}`, "posting"},
		{"unknown field", `{` + good + `,"colour":"red"}`, "unknown field"},
		{"platform", strings.Replace(`{`+good+`}`, `"iOS"`, `"tvOS"`, 1), "platform"},
		{"version", strings.Replace(`{`+good+`}`, `"27.0"`, `"latest"`, 1), "product_version"},
		{"no devices", strings.Replace(`{`+good+`}`, `["iPhone15,2"]`, `[]`, 1), "supported_devices"},
		{"no time", strings.Replace(`{`+good+`}`, `,"at":"2026-09-03T00:00:00Z"`, ``, 1), "at: required"},
		{"expiry before", `{` + good + `,"expiration_date":"2026-01-01"}`, "not after"},
		{"huge", `{"build":"` + strings.Repeat("x", maxControlBody) + `"}`, "larger than"},
	} {
		rec := serve(s, http.MethodPost, ControlPrefix+"releases", tt.body, nil)
		if rec.Code < 400 || !strings.Contains(rec.Body.String(), tt.want) {
			t.Errorf("%s: %d %s, want an error saying %q", tt.name, rec.Code, rec.Body, tt.want)
		}
	}
	if rec := serve(s, http.MethodGet, ControlPrefix+"releases", "", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
}

// FuzzPostRelease: any body gets 200 or a 4xx with an error, never a panic,
// and what is accepted is served.
func FuzzPostRelease(f *testing.F) {
	f.Add(`{"platform":"iOS","product_version":"27.0","build":"24A330","supported_devices":["iPhone15,2"],"at":"2026-09-03T00:00:00Z"}`)
	f.Add(`{"platform":"macOS","product_version":"27.0.1","build":"26A5","supported_devices":["J413AP"],"at":"2026-09-03T00:00:00Z","expiration_date":"2027-01-01","public":true}`)
	f.Add(`{"at":"0001-01-01T00:00:00Z"}`)
	f.Add(`[]`)
	s := NewUnstartedServer(WithCatalog(catalog.Default()), WithNow(func() time.Time { return snapshotDay }))
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(s, http.MethodPost, ControlPrefix+"releases", body, nil)
		switch {
		case rec.Code == http.StatusOK:
		case rec.Code >= 400 && rec.Code < 500 && strings.Contains(rec.Body.String(), `"error"`):
		default:
			t.Fatalf("status %d, body %s", rec.Code, rec.Body)
		}
	})
}
