package catalog

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func mustModel(t testing.TB, id string) Model {
	t.Helper()
	m, ok := LookupModel(id)
	if !ok {
		t.Fatalf("no model %s", id)
	}
	return m
}

func builds(rs []Release) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Build)
	}
	return out
}

// A small hand-made catalog keeps the timeline tests readable.
func timelineCatalog(t *testing.T) (*Catalog, time.Time) {
	t.Helper()
	c, err := Load(stringsReader(`{"PublicAssetSets":{"macOS":[
		{"ProductVersion":"26.1","Build":"25B78","PostingDate":"2025-11-03","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP"]}]},
	"AssetSets":{"macOS":[
		{"ProductVersion":"26.0.1","Build":"25A362","PostingDate":"2025-09-29","ExpirationDate":"2026-01-19","SupportedDevices":["J413AP"]},
		{"ProductVersion":"26.1","Build":"25B78","PostingDate":"2025-11-03","ExpirationDate":"2026-05-02","SupportedDevices":["J413AP"]}]},
	"PublicBackgroundSecurityImprovements":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	return c, time.Date(2025, 12, 1, 9, 0, 0, 0, time.UTC) // day 0 of the scenario
}

func TestTimelinePostAndExpire(t *testing.T) {
	t.Parallel()
	c, day0 := timelineCatalog(t)
	m := mustModel(t, "Mac14,2")
	dayN := func(n int) time.Time { return day0.Add(time.Duration(n) * 24 * time.Hour) }
	c.Post(Release{Platform: MacOS, ProductVersion: "26.2", Build: "25C56", Public: true,
		SupportedDevices: []string{"J413AP"}}, dayN(3))
	c.Expire(MacOS, "25B78", dayN(10))

	tests := []struct {
		at        time.Time
		latest    string // Latest(26, -1)
		installed []string
	}{
		{dayN(0), "25B78", []string{"25B78"}},
		{dayN(3).Add(-time.Second), "25B78", []string{"25B78"}},
		{dayN(3), "25C56", []string{"25C56"}},
		{dayN(9), "25C56", []string{"25C56"}},
		{dayN(10), "25C56", []string{"25C56"}},
	}
	for _, tt := range tests {
		r, ok := c.Latest(m, 26, -1, tt.at)
		if !ok || r.Build != tt.latest {
			t.Errorf("at %v: Latest = %s, %v; want %s", tt.at, r.Build, ok, tt.latest)
		}
		got := builds(c.Installable(m, MustParseVersion("26.0.1"), "25A362", tt.at))
		if !slices.Equal(got, tt.installed) {
			t.Errorf("at %v: Installable = %v, want %v", tt.at, got, tt.installed)
		}
	}
	// 26.1 is listed until day 10, not from then on.
	if _, ok := c.FindBuild(m, "25B78", dayN(10).Add(-time.Nanosecond)); !ok {
		t.Error("26.1 gone before it expired")
	}
	if _, ok := c.FindBuild(m, "25B78", dayN(10)); ok {
		t.Error("26.1 still listed after Expire")
	}
	if r, ok := c.Latest(m, 26, 1, dayN(10)); ok {
		t.Errorf("Latest(26.1) after expiry = %s", r.Build)
	}
	// The posted release carries Apple's fields.
	r, _ := c.FindBuild(m, "25C56", dayN(4))
	if want := midnight(dayN(3)); !r.PostingDate.Equal(want) {
		t.Errorf("PostingDate = %v, want %v", r.PostingDate, want)
	}
	if want := midnight(dayN(3)).Add(DefaultExpiration); !r.ExpirationDate.Equal(want) {
		t.Errorf("ExpirationDate = %v, want %v", r.ExpirationDate, want)
	}
	// ShippedBuilds ignores the timeline.
	if got := builds(c.ShippedBuilds(m)); !slices.Equal(got, []string{"25C56", "25B78", "25A362"}) {
		t.Errorf("ShippedBuilds = %v", got)
	}
	// The rendered answer follows the timeline too.
	doc := c.Document(dayN(10))
	if got := doc.PublicAssetSets[MacOS]; len(got) != 1 || got[0].Build != "25C56" {
		t.Errorf("PublicAssetSets at day 10 = %+v", got)
	}
	doc = c.Document(dayN(2))
	if got := doc.PublicAssetSets[MacOS]; len(got) != 1 || got[0].Build != "25B78" {
		t.Errorf("PublicAssetSets at day 2 = %+v", got)
	}
}

func TestPostReplacesAndClone(t *testing.T) {
	t.Parallel()
	c, day0 := timelineCatalog(t)
	m := mustModel(t, "Mac14,2")
	clone := c.Clone()
	r := Release{Platform: MacOS, ProductVersion: "26.1", Build: "25B78", Public: true, SupportedDevices: []string{"J413AP"}}
	c.Post(r, day0.Add(48*time.Hour)) // moves 26.1 later
	if _, ok := c.FindBuild(m, "25B78", day0); ok {
		t.Error("re-posted release visible before its new posting time")
	}
	if _, ok := clone.FindBuild(m, "25B78", day0); !ok {
		t.Error("Post on the original changed the clone")
	}
	clone.Expire(MacOS, "25A362", day0)
	if _, ok := c.FindBuild(m, "25A362", day0); !ok {
		t.Error("Expire on the clone changed the original")
	}
	if d1, d2 := Default(), Default(); d1 == d2 {
		t.Error("Default returned the same catalog twice")
	}
}

func TestInstallableSecurityImprovement(t *testing.T) {
	t.Parallel()
	c := Default()
	at := day(2026, 3, 25) // 26.4 was posted on 2026-03-24
	tests := []struct {
		name      string
		model     string
		installed string
		build     string
		want      []string
	}{
		{"iPhone base build gets the BSI", "iPhone15,2", "26.3.1", "23D8133", []string{"23E246", "23D771330a"}},
		{"iPhone alternate build does not", "iPhone15,2", "26.3.1", "23D9133", []string{"23E246"}},
		{"base build gets the BSI", "Mac14,2", "26.3.1", "25D2128", []string{"25E246", "25D771280a"}},
		{"BSI applied", "Mac14,2", "26.3.1", "25D771280a", []string{"25E246"}},
		{"older build no BSI", "Mac14,2", "26.3", "25D125", []string{"25E246"}},
		{"previous major", "Mac14,2", "15.7.4", "24G517", []string{"25E246", "24G624"}},
		{"newest", "Mac14,2", "26.4", "25E246", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := builds(c.Installable(mustModel(t, tt.model), MustParseVersion(tt.installed), tt.build, at))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Installable(%s %s) = %v, want %v", tt.installed, tt.build, got, tt.want)
			}
		})
	}
}

func TestLatestAndFindBuild(t *testing.T) {
	t.Parallel()
	c := Default()
	at := day(2026, 8, 22)
	tests := []struct {
		model        string
		major, minor int
		want         string
	}{
		{"Mac14,2", 26, -1, "26.6.2/25G83"},
		{"Mac14,2", 26, 5, "26.5.2/25F84"},
		// 26.4.1 expired before 2026-08-22: Apple's answer of that day
		// no longer lists it.
		{"Mac14,2", 26, 4, ""},
		{"Mac14,2", 15, -1, "15.7.9/24G830"},
		{"MacBookAir9,1", 26, -1, ""},
		{"iPhone15,2", 26, -1, "26.6.1/23G83"},
		{"iPhone15,2", 26, 5, "26.5.2/23F84"},
		{"iPad13,18", 18, -1, "18.7.8/22H352"},
		{"iPhone15,2", 27, -1, ""},
	}
	for _, tt := range tests {
		r, ok := c.Latest(mustModel(t, tt.model), tt.major, tt.minor, at)
		got := ""
		if ok {
			got = r.ProductVersion + "/" + r.Build
		}
		if got != tt.want {
			t.Errorf("Latest(%s, %d, %d) = %q, want %q", tt.model, tt.major, tt.minor, got, tt.want)
		}
	}
	m := mustModel(t, "iPhone15,2")
	if r, ok := c.FindBuild(m, "23G6083", at); !ok || r.ProductVersion != "26.6.1" {
		t.Errorf("FindBuild(23G6083) = %+v, %v", r, ok)
	}
	if _, ok := c.FindBuild(m, "25G83", at); ok {
		t.Error("FindBuild found a macOS build for an iPhone")
	}
}

// TestPopulationUpgradePaths runs every model of the population through
// the default catalog.
func TestPopulationUpgradePaths(t *testing.T) {
	t.Parallel()
	c := Default()
	at := c.LatestPostingDate()
	for _, m := range Models() {
		t.Run(m.Identifier, func(t *testing.T) {
			t.Parallel()
			shipped := c.ShippedBuilds(m)
			if len(shipped) < 3 {
				t.Fatalf("only %d shipped builds", len(shipped))
			}
			for i, r := range shipped {
				if !r.Supports(m.SoftwareUpdateDeviceID) || r.SecurityImprovement || r.Platform != m.Platform {
					t.Errorf("shipped build %s is not a base OS for this model", r.Build)
				}
				if i > 0 && !shipped[i].Version().Less(shipped[i-1].Version()) {
					t.Errorf("ShippedBuilds not newest first and one per version: %s after %s", r.ProductVersion, shipped[i-1].ProductVersion)
				}
			}
			newest, oldest := shipped[0], shipped[len(shipped)-1]
			latest, ok := c.Latest(m, newest.Version().Major, -1, at)
			if !ok || latest.Build != newest.Build {
				t.Errorf("Latest(major %d) = %s, %v; want the newest shipped build %s", newest.Version().Major, latest.Build, ok, newest.Build)
			}
			if got, ok := c.FindBuild(m, newest.Build, at); !ok || got.Build != newest.Build {
				t.Errorf("FindBuild(%s) failed", newest.Build)
			}
			up := c.Installable(m, oldest.Version(), oldest.Build, at)
			if len(up) == 0 {
				t.Fatalf("nothing installable from the oldest build %s %s", oldest.ProductVersion, oldest.Build)
			}
			if up[0].Build != newest.Build {
				t.Errorf("first installable from %s is %s, want the newest %s", oldest.ProductVersion, up[0].Build, newest.Build)
			}
			if got := c.Installable(m, newest.Version(), newest.Build, at); len(got) != 0 {
				t.Errorf("Installable on the newest build = %v, want none", builds(got))
			}
		})
	}
}

func TestConcurrentTimeline(t *testing.T) {
	t.Parallel()
	c := Default()
	m := mustModel(t, "Mac14,2")
	at := day(2026, 8, 22)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 20 {
				c.Post(Release{Platform: MacOS, ProductVersion: "26.7", Build: "25H" + string(rune('0'+i)) + string(rune('0'+j%10)),
					SupportedDevices: []string{"J413AP"}}, at)
				c.Expire(MacOS, "25G83", at.Add(time.Duration(j)*time.Hour))
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				c.Installable(m, MustParseVersion("26.5"), "25F71", at)
				c.Document(at)
				c.Clone()
			}
		}()
	}
	wg.Wait()
	if r, ok := c.Latest(m, 26, 7, at); !ok || r.ProductVersion != "26.7" {
		t.Errorf("posted releases missing: %+v %v", r, ok)
	}
}

// TestShippedBuildsSeesPost: the per-model cache of ShippedBuilds is not
// stale after a release is posted, and callers cannot corrupt it.
func TestShippedBuildsSeesPost(t *testing.T) {
	t.Parallel()
	c := Default().Clone()
	m, _ := LookupModel("Mac14,2")
	before := c.ShippedBuilds(m)
	before[0].Build = "scribbled"
	if c.ShippedBuilds(m)[0].Build == "scribbled" {
		t.Fatal("a caller's change reached the cache")
	}
	c.Post(Release{Platform: MacOS, ProductVersion: "26.9", Build: "25J99", SupportedDevices: []string{m.SoftwareUpdateDeviceID}},
		c.LatestPostingDate())
	if have := c.ShippedBuilds(m)[0]; have.Build != "25J99" {
		t.Fatalf("newest shipped build after Post: have %s, want 25J99", have.Build)
	}
}

// TestExpirationDate: an asset is in the answer, offered and installable
// until the day of its ExpirationDate, and nowhere from then on.
func TestExpirationDate(t *testing.T) {
	t.Parallel()
	c, _ := timelineCatalog(t)
	m := mustModel(t, "Mac14,2")
	before := time.Date(2026, 1, 18, 23, 59, 0, 0, time.UTC) // 26.0.1 expires 2026-01-19
	after := time.Date(2026, 1, 19, 0, 0, 0, 0, time.UTC)
	assets := func(at time.Time) []string {
		var out []string
		for _, a := range c.Document(at).AssetSets[MacOS] {
			out = append(out, a.Build)
		}
		return out
	}
	if got := assets(before); !slices.Equal(got, []string{"25B78", "25A362"}) {
		t.Errorf("AssetSets the day before expiry = %v", got)
	}
	if got := assets(after); !slices.Equal(got, []string{"25B78"}) {
		t.Errorf("AssetSets on the expiry day = %v, want [25B78]", got)
	}
	if _, ok := c.FindBuild(m, "25A362", after); ok {
		t.Error("an expired build is still installable")
	}
	if _, ok := c.Latest(m, 26, 0, after); ok {
		t.Error("Latest(26.0) finds an expired release")
	}
	// A Mac on 25.x would be offered 26.0.1 before, only 26.1 after.
	if got := builds(c.Installable(m, MustParseVersion("15.7"), "24G222", after)); slices.Contains(got, "25A362") {
		t.Errorf("Installable offers an expired release: %v", got)
	}
	// 26.1, the newest of its major in the newest answer, is renewed as
	// Apple re-posts current releases: listed past its ExpirationDate,
	// with the dates of its re-posting.
	may2 := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	got := c.Releases(may2.Add(time.Hour))
	if len(got) != 1 || got[0].Build != "25B78" || !got[0].PostingDate.Equal(may2) || !got[0].ExpirationDate.Equal(may2.Add(DefaultExpiration)) {
		t.Errorf("Releases after 26.1's expiry = %+v, want 26.1 re-posted on %s", got, may2.Format(DateLayout))
	}
	later := may2.Add(DefaultExpiration + 24*time.Hour)
	if got := c.Releases(later); len(got) != 1 || !got[0].PostingDate.Equal(may2.Add(DefaultExpiration)) {
		t.Errorf("Releases a renewal later = %+v", got)
	}
	// A newer 26.x posted on the timeline: 26.1 lapses from then on.
	c.Post(Release{Platform: MacOS, ProductVersion: "26.2", Build: "25C56", SupportedDevices: []string{"J413AP"}}, later)
	if got := builds(c.Releases(later.Add(time.Hour))); !slices.Equal(got, []string{"25C56"}) {
		t.Errorf("Releases once 26.2 is posted = %v, want 26.2 only", got)
	}
	if got := builds(c.Releases(later.Add(-time.Hour))); !slices.Equal(got, []string{"25B78"}) {
		t.Errorf("Releases before 26.2 is posted = %v, want the renewed 26.1", got)
	}
	// The history remains.
	if got := builds(c.ShippedBuilds(m)); !slices.Equal(got, []string{"25C56", "25B78", "25A362"}) {
		t.Errorf("ShippedBuilds = %v", got)
	}
}

// TestDefaultCatalogExpiry: on each snapshot's day, and months after the
// newest, the default catalog lists no asset past its ExpirationDate, as
// Apple's answers never do; past the newest answer the newest release of
// each major is still listed (renewed), nothing older.
func TestDefaultCatalogExpiry(t *testing.T) {
	t.Parallel()
	c := Default()
	for _, at := range []time.Time{day(2025, 10, 21), day(2026, 4, 12), day(2026, 8, 22), day(2026, 12, 1)} {
		for _, r := range c.Releases(at) {
			if !at.Before(r.ExpirationDate) || at.Before(r.PostingDate) {
				t.Errorf("at %s: %s %s listed, posted %s, expired %s", at.Format(DateLayout), r.Platform, r.Build,
					r.PostingDate.Format(DateLayout), r.ExpirationDate.Format(DateLayout))
			}
		}
	}
	m := mustModel(t, "Mac14,2")
	var got []string
	for _, r := range c.ReleasesFor(m, day(2027, 6, 1)) {
		got = append(got, r.ProductVersion)
	}
	if want := []string{"26.6.2", "15.7.9", "14.8.9", "13.7.8", "12.7.6"}; !slices.Equal(got, want) {
		t.Errorf("Mac14,2 in June 2027: %v, want the newest of each major %v", got, want)
	}
}
