package fleet_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

// The example shipped to users is the default the simulator embeds.
func TestExamplePopulationIsTheDefault(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(filepath.Join("..", "examples", "population.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(example, fleet.DefaultPopulationYAML()) {
		t.Fatal("examples/population.yaml differs from fleet/population.yaml: copy one onto the other")
	}
	p, err := fleet.LoadPopulation(filepath.Join("..", "examples", "population.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Ignores != fleet.DefaultPopulation().Ignores || len(p.OS[catalog.IOS]) < 3 || len(p.OS[catalog.MacOS]) < 3 {
		t.Errorf("loaded %+v", p)
	}
}

func TestPopulationFileErrors(t *testing.T) {
	t.Parallel()
	base := string(fleet.DefaultPopulationYAML())
	tests := []struct {
		name, yaml, want string
	}{
		{"typo", "ignore: 0.1\n", "line 1: unknown key ignore"},
		{"wrong type", "ignores: lots\n", "line 1: `lots` is not a number"},
		{"share above one", "ignores: 0.1\npasscode: 1.5\n", "line 2: passcode: must be in [0,1]"},
		{"negative share", "failures: {download: -0.1}\n", "line 1: failures.download: must be in [0,1]"},
		{"users over one", "ignores: 0.6\ndismisses: 0.6\n", "users (ignores + dismisses + tonight) add up to 1.2"},
		{"os shares", "ignores: 0\nos:\n  macOS: {26: 1}\n  iOS: {26: 0.5, 18: 0.2}\n", "line 4: os.iOS: shares add up to 0.7"},
		{"os platform", "os: {tvOS: {26: 1}}\n", "os.tvOS: the platform must be"},
		{"os major not a number", "os: {iOS: {latest: 1}}\n", "`latest` is not a number"},
		{"unknown model", "models: {\"iPhone99,1\": 1}\n", `model key "iPhone99,1" matches no model`},
		{"time zone", "time_zones: {Mars/Olympus: 1}\n", "time_zones.Mars/Olympus: not an IANA time zone"},
		{"disk bands", "free_disk: [{min_gb: 5, max_gb: 1, share: 1}]\n", "free_disk[0]: want 0 <= min_gb <= max_gb"},
		{"disk shares", "free_disk: [{min_gb: 1, max_gb: 5, share: 0.5}]\n", "free_disk: shares add up to 0.5"},
		{"disk band line", "free_disk:\n  - {min_gb: 1, max_gb: 5, share: 0.5}\n  - {min_gb: 5, max_gb: 1, share: 0.5}\n", "line 3: free_disk[1]: want 0 <= min_gb <= max_gb"},
		{"unknown nested key", "enrollment: {dep: 0.5}\n", "unknown key dep"},
		{"two documents", "ignores: 0.1\n---\nignores: 0.2\n", "more than one YAML document"},
		{"empty", "", "empty"},
		{"not a map", "- 1\n- 2\n", "the list is not a mapping"},
		{"duplicate key", base + "\nignores: 0.2\n", "already defined"},
		{"alias bomb", aliasBomb(), "pop.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := fleet.ParsePopulation([]byte(tt.yaml), "pop.yaml")
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.yaml)
			}
			if !errors.Is(err, fleet.ErrPopulationFile) || !strings.Contains(err.Error(), "pop.yaml") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to name pop.yaml and say %q", err, tt.want)
			}
		})
	}
	if _, err := fleet.ParsePopulation(bytes.Repeat([]byte("#"), fleet.MaxPopulationFile+1), "big.yaml"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a huge file: %v", err)
	}
	if _, err := fleet.LoadPopulation(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fleet.ErrPopulationFile) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// FuzzParsePopulation: any bytes give a population or an error, never a
// panic, and what is accepted validates.
func FuzzParsePopulation(f *testing.F) {
	f.Add(fleet.DefaultPopulationYAML())
	f.Add([]byte("os: {iOS: {26: 1}}\nmodels: {\"*\": 1}\n"))
	f.Add([]byte("free_disk: [{min_gb: 0, max_gb: 1e308, share: 1}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := fleet.ParsePopulation(data, "fuzz.yaml")
		if err == nil {
			if err := p.Validate(); err != nil {
				t.Fatalf("accepted a population that does not validate: %v", err)
			}
		}
	})
}

// TestPopulationRealism: the default population's fleet runs at least three
// OS majors per platform in about the file's shares, only releases posted
// before the start, only models of positive weight, supervision as its
// enrollment says, and free space spread over the bands.
func TestPopulationRealism(t *testing.T) {
	t.Parallel()
	pop := fleet.DefaultPopulation()
	cat := catalog.Default()
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) // before macOS 26.4 and iOS 26.4 shipped
	f, err := fleet.New(fleet.Config{Devices: 2000, Seed: 11, MacFraction: 0.5, Population: &pop, Catalog: cat, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	majors := map[catalog.Platform]map[int]int{catalog.MacOS: {}, catalog.IOS: {}}
	perPlatform := map[catalog.Platform]int{}
	zones := map[string]int{}
	var supervised, ade, mid int
	for _, d := range f.Devices() {
		id := d.Identity()
		pl := id.Model.Platform
		perPlatform[pl]++
		majors[pl][identity.Major(id.OSVersion)]++
		rel, ok := findShipped(cat, id)
		if !ok {
			t.Fatalf("%s runs %s (%s), which never shipped for it", id.Model.Identifier, id.OSVersion, id.BuildVersion)
		}
		if rel.PostingDate.After(start) {
			t.Errorf("%s runs %s, posted %s, after the start", id.Model.Identifier, id.OSVersion, rel.PostingDate.Format(time.DateOnly))
		}
		if id.Model.Identifier == "iMacPro1,1" && pop.Models["iMacPro1,1"] == 0 {
			t.Error("a model of weight 0 was drawn")
		}
		if id.IsSupervised != (id.Enrollment != identity.EnrollmentProfile) || (id.Enrollment == identity.EnrollmentConfigurator && id.IsMac()) {
			t.Errorf("%s: supervised %v, enrolled %v", id.Model.Identifier, id.IsSupervised, id.Enrollment)
		}
		if id.IsSupervised {
			supervised++
		}
		if id.ViaADE() {
			ade++
		}
		if _, ok := pop.TimeZones[id.TimeZone]; !ok {
			t.Errorf("time zone %s is not in the population", id.TimeZone)
		}
		zones[id.TimeZone]++
		if id.AvailableDeviceCapacity >= 5 && id.AvailableDeviceCapacity <= 30 {
			mid++
		}
		if id.AvailableDeviceCapacity > id.DeviceCapacity {
			t.Errorf("%v GB free of %v", id.AvailableDeviceCapacity, id.DeviceCapacity)
		}
	}
	near := func(name string, have int, share float64, of int) {
		t.Helper()
		want := share * float64(of)
		if math.Abs(float64(have)-want) > 4*math.Sqrt(want)+10 {
			t.Errorf("%s: have %d, want about %.0f", name, have, want)
		}
	}
	t.Logf("majors %v, %d supervised, %d by ADE, %d with 5-30 GB free", majors, supervised, ade, mid)
	for pl, m := range majors {
		if len(m) < 3 {
			t.Errorf("%s: majors %v, want at least three", pl, m)
		}
	}
	// The majors are drawn first and stratified: each is within a device
	// or two of its share.
	for pl, shares := range pop.OS {
		for v, share := range shares {
			want := share * float64(perPlatform[pl])
			if have := float64(majors[pl][v]); math.Abs(have-want) > 2 {
				t.Errorf("%s %d: %v devices, want %.1f", pl, v, have, want)
			}
		}
	}
	near("ADE", ade, pop.Enrollment.ADE, 2000)
	near("free 5-30 GB", mid, pop.FreeDisk[2].Share, 2000)
	if zones["America/New_York"] <= zones["Pacific/Auckland"] {
		t.Errorf("time zones not weighted: %v", zones)
	}
	if supervised < ade {
		t.Errorf("%d supervised, fewer than the %d enrolled by ADE", supervised, ade)
	}
}

func findShipped(cat *catalog.Catalog, id identity.Identity) (catalog.Release, bool) {
	for _, r := range cat.ShippedBuilds(*id.Model) {
		if r.Build == id.BuildVersion && r.ProductVersion == id.OSVersion {
			return r, true
		}
	}
	return catalog.Release{}, false
}

// A start before anything shipped for a model is an error that says so,
// not a device on a release from its future.
func TestPopulationStartTooEarly(t *testing.T) {
	t.Parallel()
	pop := fleet.DefaultPopulation()
	_, err := fleet.New(fleet.Config{Devices: 1, Population: &pop, Start: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err == nil || !strings.Contains(err.Error(), "shipped by 2020-01-01") {
		t.Errorf("err = %v", err)
	}
}

// TestPopulationSmallFleet: ten devices of each platform already hold at
// least three OS majors each, whatever the seed.
func TestPopulationSmallFleet(t *testing.T) {
	t.Parallel()
	pop := fleet.DefaultPopulation()
	start := time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)
	for seed := int64(1); seed <= 20; seed++ {
		for _, mac := range []float64{0, 1} {
			f, err := fleet.New(fleet.Config{Devices: 10, Seed: seed, MacFraction: mac, Population: &pop, Start: start})
			if err != nil {
				t.Fatal(err)
			}
			if m := f.OSMajors(); len(m[catalog.MacOS])+len(m[catalog.IOS]) < 3 {
				t.Errorf("seed %d, mac fraction %v: majors %v", seed, mac, m)
			}
		}
	}
}

// aliasBomb is a billion-laughs document under a key the file knows.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("free_disk:\n  - &a0 {min_gb: 1, max_gb: 2, share: 1}\n")
	prev := "a0"
	for i := 1; i < 10; i++ {
		name := fmt.Sprintf("a%d", i)
		fmt.Fprintf(&b, "  - &%s [%s]\n", name, strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", "))
		prev = name
	}
	return b.String()
}
