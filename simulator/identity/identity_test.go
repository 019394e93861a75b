package identity_test

import (
	"regexp"
	"testing"

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
	"github.com/mdmsim/mdmsim/simulator/identity"
)

func TestIdentityDeterministic(t *testing.T) {
	t.Parallel()
	a, err := identity.New(gofakeit.New(42), identity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := identity.New(gofakeit.New(42), identity.Options{})
	if a != b {
		t.Fatalf("same seed, different identities:\n%+v\n%+v", a, b)
	}
	c, _ := identity.New(gofakeit.New(43), identity.Options{})
	if a.UDID == c.UDID || a.SerialNumber == c.SerialNumber {
		t.Fatalf("different seeds gave the same UDID or serial: %s %s", a.UDID, a.SerialNumber)
	}
}

var (
	uuidRE      = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`)
	ecidRE      = regexp.MustCompile(`^0000[0-9A-F]{4}-[0-9A-F]{16}$`)
	newSerialRE = regexp.MustCompile(`^[0-9BCDFGHJKLMNPQRSTVWXYZ]{10}$`)
	oldSerialRE = regexp.MustCompile(`^[0-9A-Z]{12}$`)
)

func luhnOK(s string) bool {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// TestIdentityCoherent draws many identities and checks that each one is a
// device that could exist: a real model, an OS build that shipped for it,
// identifiers in Apple's formats.
func TestIdentityCoherent(t *testing.T) {
	t.Parallel()
	cat := catalog.Default()
	f := gofakeit.New(7)
	families := map[string]int{}
	for i := 0; i < 500; i++ {
		id, err := identity.New(f, identity.Options{Catalog: cat})
		if err != nil {
			t.Fatal(err)
		}
		families[id.Model.Family]++
		m, ok := catalog.LookupModel(id.Model.Identifier)
		if !ok || m != *id.Model {
			t.Fatalf("model %q is not the catalog's", id.Model.Identifier)
		}
		shipped := false
		for _, r := range cat.ShippedBuilds(m) {
			if r.ProductVersion == id.OSVersion && r.Build == id.BuildVersion && !r.SecurityImprovement {
				shipped = true
			}
		}
		if !shipped {
			t.Errorf("%s runs %s (%s), which did not ship for it", m.Identifier, id.OSVersion, id.BuildVersion)
		}
		switch {
		case m.Family == "Mac":
			if !uuidRE.MatchString(id.UDID) {
				t.Errorf("Mac UDID %q is not a hardware UUID", id.UDID)
			}
			if m.AppleSilicon != ecidRE.MatchString(id.ProvisioningUDID) {
				t.Errorf("Mac %s (Apple silicon %v) ProvisioningUDID %q", m.Identifier, m.AppleSilicon, id.ProvisioningUDID)
			}
			if id.IMEI != "" {
				t.Errorf("Mac with an IMEI")
			}
		default:
			if !ecidRE.MatchString(id.UDID) || id.ProvisioningUDID != id.UDID {
				t.Errorf("%s UDID %q / %q", m.Family, id.UDID, id.ProvisioningUDID)
			}
		}
		if m.Family == "iPhone" && (len(id.IMEI) != 15 || !luhnOK(id.IMEI)) {
			t.Errorf("IMEI %q is not 15 digits with a Luhn check", id.IMEI)
		}
		if !newSerialRE.MatchString(id.SerialNumber) && !oldSerialRE.MatchString(id.SerialNumber) {
			t.Errorf("serial %q is in neither of Apple's formats", id.SerialNumber)
		}
		if id.Location().String() != id.TimeZone {
			t.Errorf("time zone %q does not load", id.TimeZone)
		}
		if id.AvailableDeviceCapacity <= 0 || id.AvailableDeviceCapacity >= id.DeviceCapacity {
			t.Errorf("capacity %v of %v", id.AvailableDeviceCapacity, id.DeviceCapacity)
		}
		if identity.Major(id.OSVersion) < 13 {
			t.Errorf("OS version %q is older than any release in the catalog's population", id.OSVersion)
		}
	}
	for _, fam := range []string{"Mac", "iPhone", "iPad"} {
		if families[fam] == 0 {
			t.Errorf("500 identities and no %s: %v", fam, families)
		}
	}
}

func TestIdentityOptions(t *testing.T) {
	t.Parallel()
	id, err := identity.New(gofakeit.New(1), identity.Options{Model: "Mac14,2"})
	if err != nil {
		t.Fatal(err)
	}
	if id.Model.BoardID != "J413AP" || id.Model.ModelName != "MacBook Air" || id.Model.SoftwareUpdateDeviceID != "J413AP" {
		t.Fatalf("Mac14,2: %+v", *id.Model)
	}
	if _, err := identity.New(gofakeit.New(1), identity.Options{Model: "Mac99,9"}); err == nil {
		t.Fatal("unknown model accepted")
	}
	for i := 0; i < 50; i++ {
		id, err := identity.New(gofakeit.New(int64(i)), identity.Options{Platform: catalog.MacOS})
		if err != nil || id.Model.Platform != catalog.MacOS {
			t.Fatalf("platform macOS gave %+v, %v", *id.Model, err)
		}
	}
}
