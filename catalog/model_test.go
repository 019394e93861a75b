package catalog

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestModelsPopulation(t *testing.T) {
	t.Parallel()
	ms := Models()
	count := map[string]int{}
	seen := map[string]bool{}
	for i, m := range ms {
		count[m.Family]++
		if seen[m.Identifier] {
			t.Errorf("duplicate model %s", m.Identifier)
		}
		seen[m.Identifier] = true
		if i > 0 {
			prev := ms[i-1]
			if prev.Platform > m.Platform || (prev.Platform == m.Platform && compareIdentifiers(prev.Identifier, m.Identifier) >= 0) {
				t.Errorf("Models() not sorted: %s before %s", prev.Identifier, m.Identifier)
			}
		}
		got, ok := LookupModel(m.Identifier)
		if !ok || got != m {
			t.Errorf("LookupModel(%q) = %+v, %v; want %+v", m.Identifier, got, ok, m)
		}
	}
	if n := count["Mac"]; n < 20 || n > 40 {
		t.Errorf("have %d Macs, want 20–40", n)
	}
	if n := count["iPhone"] + count["iPad"]; n < 20 || n > 30 {
		t.Errorf("have %d iPhones and iPads, want 20–30", n)
	}
	if _, ok := LookupModel("Mac99,1"); ok {
		t.Error("LookupModel found an unknown model")
	}
	// Models returns a copy.
	ms[0].BoardID = "changed"
	if Models()[0].BoardID == "changed" {
		t.Error("Models() exposes its backing array")
	}
}

func TestModelFields(t *testing.T) {
	t.Parallel()
	for _, m := range Models() {
		t.Run(m.Identifier, func(t *testing.T) {
			t.Parallel()
			if m.Identifier == "" || m.MarketingName == "" || m.ModelNumber == "" || m.BoardID == "" {
				t.Fatalf("empty field in %+v", m)
			}
			if !strings.HasSuffix(m.BoardID, "AP") {
				t.Errorf("BoardID %q does not end in AP", m.BoardID)
			}
			if m.MarketingName != m.ModelName && !strings.HasPrefix(m.MarketingName, m.ModelName+" ") {
				t.Errorf("MarketingName %q is not of ModelName %q", m.MarketingName, m.ModelName)
			}
			if !strings.HasPrefix(m.ModelName, m.Family) && !(m.Family == "Mac" && strings.HasPrefix(m.ModelName, "iMac")) {
				t.Errorf("ModelName %q is not of Family %q", m.ModelName, m.Family)
			}
			if !strings.HasPrefix(m.Identifier, m.Family) && !(m.Family == "Mac" && strings.Contains(m.Identifier, "Mac")) {
				t.Errorf("Identifier %q is not of Family %q", m.Identifier, m.Family)
			}
			if len(m.ModelNumber) != 9 || !strings.HasSuffix(m.ModelNumber, "LL/A") {
				t.Errorf("ModelNumber %q is not a US part number", m.ModelNumber)
			}
			switch m.Family {
			case "Mac":
				if m.Platform != MacOS || m.AppleSilicon == m.T2 || m.SoftwareUpdateDeviceID != m.BoardID {
					t.Errorf("Mac %+v: want macOS, exactly one of AppleSilicon/T2, SoftwareUpdateDeviceID = BoardID", m)
				}
			case "iPhone", "iPad":
				if m.Platform != IOS || m.AppleSilicon || m.T2 || m.SoftwareUpdateDeviceID != m.Identifier {
					t.Errorf("%s %+v: want iOS, no Mac flags, SoftwareUpdateDeviceID = Identifier", m.Family, m)
				}
			default:
				t.Errorf("unknown Family %q", m.Family)
			}
		})
	}
}

// TestModelsInDefaultCatalog is the coherence check of the population: every
// model's SoftwareUpdateDeviceID is listed by Apple, and its newest OS is in
// the majors the hardware really supports.
func TestModelsInDefaultCatalog(t *testing.T) {
	t.Parallel()
	c := Default()
	newestMajor := map[string]int{
		// Intel Macs that stop at macOS 15 Sequoia.
		"MacBookPro15,2": 15, "MacBookAir9,1": 15, "Macmini8,1": 15, "iMacPro1,1": 15,
	}
	for _, m := range Models() {
		if len(c.ShippedBuilds(m)) == 0 {
			t.Errorf("%s: %s is in no release of the default catalog", m.Identifier, m.SoftwareUpdateDeviceID)
			continue
		}
		want := 26
		if n, ok := newestMajor[m.Identifier]; ok {
			want = n
		}
		if got := c.ShippedBuilds(m)[0].Version().Major; got != want {
			t.Errorf("%s: newest shipped major %d, want %d", m.Identifier, got, want)
		}
	}
}

var farFuture = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

func TestCompareIdentifiers(t *testing.T) {
	t.Parallel()
	ids := []string{"Mac14,10", "Mac14,2", "Mac9,1", "MacBookAir10,1", "Mac14,15"}
	slices.SortFunc(ids, compareIdentifiers)
	want := []string{"Mac9,1", "Mac14,2", "Mac14,10", "Mac14,15", "MacBookAir10,1"}
	if !slices.Equal(ids, want) {
		t.Errorf("sorted %v, want %v", ids, want)
	}
}
