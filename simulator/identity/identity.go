package identity

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // devices live in every time zone, whatever the host has installed

	"github.com/brianvoe/gofakeit/v6"

	"github.com/mdmsim/mdmsim/catalog"
)

// Identity is who a simulated device is. Every field is consistent with the
// others: the model exists, its board ID and names match, and the OS version
// and build really shipped for it.
type Identity struct {
	UDID string
	// ProvisioningUDID differs from UDID on Apple-silicon Macs; on iPhone and
	// iPad the two are equal.
	ProvisioningUDID string
	SerialNumber     string
	DeviceName       string
	// Model points to the catalog's entry for the model, shared by every
	// device of that model; it is never modified.
	Model        *catalog.Model
	OSVersion    string
	BuildVersion string
	// SupplementalBuildVersion and SupplementalOSVersionExtra are set while a
	// security response (Background Security Improvement) is installed.
	SupplementalBuildVersion   string
	SupplementalOSVersionExtra string
	IMEI                       string
	// TimeZone is an IANA name; "tonight" and deadlines are local to it.
	TimeZone string
	// DeviceCapacity and AvailableDeviceCapacity are in GB (base 10).
	DeviceCapacity          float64
	AvailableDeviceCapacity float64
	BatteryLevel            float64
	WiFiMAC                 string
	BluetoothMAC            string
	EthernetMAC             string
	IsSupervised            bool
	// Enrollment is how the device enrolled (picker.go); the zero value
	// follows IsSupervised.
	Enrollment Enrollment
	// Seed drives every later random choice of the device (push token,
	// magic, jitter), so the same fleet seed gives the same run.
	Seed int64
}

// Location is the device's time zone.
func (id Identity) Location() *time.Location {
	loc, err := time.LoadLocation(id.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// IsMac reports whether the device is a Mac.
func (id Identity) IsMac() bool { return id.Model.Family == "Mac" }

// Major returns the major version of an OS version string ("26.1" -> 26).
func Major(osVersion string) int {
	s, _, _ := strings.Cut(osVersion, ".")
	n, _ := strconv.Atoi(s)
	return n
}

// Options narrows what New draws.
type Options struct {
	// Platform restricts the model to one platform; empty means any.
	Platform catalog.Platform
	// Model forces a model identifier, e.g. "Mac14,2".
	Model string
	// Catalog supplies the OS releases; nil means catalog.Default().
	Catalog *catalog.Catalog
	// Picker, when set, draws the model, the OS release, the time zone
	// and the enrollment (and so supervision) with a population's
	// weights; its catalog is used instead of Catalog.
	Picker *Picker
}

// ErrNoModel is returned when no model matches Options.
var ErrNoModel = errors.New("identity: no model matches")

// New draws a coherent identity from a seeded faker: the same faker
// state gives the same identity.
func New(f *gofakeit.Faker, opts Options) (Identity, error) {
	cat := opts.Catalog
	if cat == nil {
		cat = catalog.Default()
	}
	pool := modelPool()[opts.Platform]
	if opts.Model != "" {
		pool = nil
		if m, ok := catalog.ModelRef(opts.Model); ok && (opts.Platform == "" || m.Platform == opts.Platform) {
			pool = []*catalog.Model{m}
		}
	}
	if len(pool) == 0 {
		return Identity{}, fmt.Errorf("%w: %+v", ErrNoModel, opts)
	}
	var (
		m   *catalog.Model
		id  Identity
		rel catalog.Release
		ok  bool
	)
	if pk := opts.Picker; pk != nil {
		if opts.Model != "" {
			m = pool[0]
			rel, ok = pk.release(m, f.Rand)
		} else if m, rel, ok = pk.modelAndRelease(opts.Platform, f.Rand); m == nil {
			return Identity{}, fmt.Errorf("%w: %+v", ErrNoModel, opts)
		}
		id = Identity{Model: m, Seed: f.Int64(), Enrollment: pk.enrollment(m, f.Rand)}
		id.IsSupervised = id.Enrollment != EnrollmentProfile
	} else {
		m = pool[f.Number(0, len(pool)-1)]
		id = Identity{Model: m, Seed: f.Int64(), IsSupervised: f.Rand.Float64() < 0.9}
		rel, ok = pickRelease(f, cat, m)
	}
	if !ok {
		return Identity{}, fmt.Errorf("identity: no release of the catalog supports %s (%s)", m.Identifier, m.SoftwareUpdateDeviceID)
	}
	id.OSVersion, id.BuildVersion = rel.ProductVersion, rel.Build

	first := f.FirstName()
	switch m.Family {
	case "Mac":
		id.UDID = strings.ToUpper(f.UUID())
		id.ProvisioningUDID = id.UDID
		if m.AppleSilicon {
			id.ProvisioningUDID = ecidUDID(f, chipID(m))
		}
		id.DeviceName = fmt.Sprintf("%s’s %s", first, m.ModelName)
		id.DeviceCapacity = float64([]int{256, 512, 512, 1000, 2000}[f.Number(0, 4)])
		id.EthernetMAC = appleMAC(f)
	default:
		id.UDID = ecidUDID(f, chipID(m))
		id.ProvisioningUDID = id.UDID
		id.DeviceName = fmt.Sprintf("%s’s %s", first, m.Family)
		id.DeviceCapacity = float64([]int{64, 128, 128, 256, 512}[f.Number(0, 4)])
		if m.Family == "iPhone" {
			id.IMEI = imei(f)
		}
	}
	id.SerialNumber = serialNumber(f, m)
	id.AvailableDeviceCapacity = roundGB(id.DeviceCapacity * f.Float64Range(0.15, 0.8))
	id.BatteryLevel = float64(f.Number(20, 100)) / 100
	id.WiFiMAC = appleMAC(f)
	id.BluetoothMAC = appleMAC(f)
	id.TimeZone = timeZone(f)
	if opts.Picker != nil {
		if tz, ok := opts.Picker.timeZone(f.Rand); ok {
			id.TimeZone = tz
		}
	}
	return id, nil
}

// modelPool is the population by platform ("" for all), in the catalog's
// order, built once: drawing a device allocates no model list.
var modelPool = sync.OnceValue(func() map[catalog.Platform][]*catalog.Model {
	pools := map[catalog.Platform][]*catalog.Model{}
	for _, m := range catalog.Models() {
		ref, _ := catalog.ModelRef(m.Identifier)
		pools[""] = append(pools[""], ref)
		pools[m.Platform] = append(pools[m.Platform], ref)
	}
	return pools
})

// pickRelease chooses a starting OS for a model among the builds that
// shipped for it (catalog.ShippedBuilds: newest first, one build a version,
// security responses left out as they are applied on top of a base release
// later), favouring recent releases as a real fleet does.
func pickRelease(f *gofakeit.Faker, cat *catalog.Catalog, m *catalog.Model) (catalog.Release, bool) {
	return cat.PickShipped(*m, func(n int) int {
		// Geometric: the newest release about half the time, then each
		// older one about half as often as the one before.
		i := 0
		for i < n-1 && f.Rand.Float64() < 0.5 {
			i++
		}
		return i
	})
}

func roundGB(v float64) float64 { return float64(int(v*100)) / 100 }

// serialAlphabet is what Apple's randomised 10-character serial numbers
// (2021 onwards) are drawn from: digits and consonants.
const serialAlphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ"

// serialNumber follows Apple's two formats: the older 12-character one
// (manufacturing location, year, week, unique id, model code) for Intel
// Macs and devices designed before 2021, and the randomised 10-character one
// since.
func serialNumber(f *gofakeit.Faker, m *catalog.Model) string {
	pick := func(alphabet string, n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[f.Number(0, len(alphabet)-1)])
		}
		return b.String()
	}
	if !legacySerial(m) {
		return pick(serialAlphabet, 10)
	}
	loc := []string{"C02", "C07", "FVF", "F5K", "DMP", "F2L"}[f.Number(0, 5)]
	year := pick("CDFGHJKLMN", 1)
	week := pick("123456789CDFGHJKLMNPQRTVWXY", 1)
	unique := pick("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", 3)
	return loc + year + week + unique + modelCode(m)
}

// modelCode is the last four characters of an old-format serial: fixed per
// model, as Apple's are.
func modelCode(m *catalog.Model) string {
	h := fnv.New32a()
	h.Write([]byte(m.Identifier))
	v := h.Sum32()
	var b [4]byte
	const alphabet = "0123456789CDFGHJKLMNPQRTVWXY"
	for i := range b {
		b[i] = alphabet[v%uint32(len(alphabet))]
		v /= uint32(len(alphabet))
	}
	return string(b[:])
}

func legacySerial(m *catalog.Model) bool {
	if m.Family == "Mac" {
		return m.T2 || strings.Contains(m.MarketingName, "2020")
	}
	_, major := identifierMajor(m.Identifier)
	return (m.Family == "iPhone" && major <= 13) || (m.Family == "iPad" && major <= 12)
}

// identifierMajor splits "iPhone15,2" into "iPhone" and 15.
func identifierMajor(id string) (string, int) {
	i := strings.IndexAny(id, "0123456789")
	if i < 0 {
		return id, 0
	}
	n := 0
	for _, c := range id[i:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return id[:i], n
}

// chipID is the SoC's chip ID, the first half of an ECID-style UDID.
func chipID(m *catalog.Model) string {
	name := m.MarketingName
	for _, c := range []struct{ chip, id string }{
		{"M1 Pro", "6000"}, {"M1 Max", "6001"}, {"M1 Ultra", "6002"},
		{"M2 Pro", "6020"}, {"M2 Max", "6021"}, {"M2 Ultra", "6022"},
		{"M3 Pro", "6030"}, {"M3 Max", "6031"}, {"M3 Ultra", "6032"},
		{"M4 Pro", "6040"}, {"M4 Max", "6041"},
		{"M1", "8103"}, {"M2", "8112"}, {"M3", "8122"}, {"M4", "8132"},
	} {
		if strings.Contains(name, c.chip) {
			return c.id
		}
	}
	_, major := identifierMajor(m.Identifier)
	switch {
	case major <= 12:
		return "8030" // A13
	case major == 13:
		return "8101" // A14
	case major == 14:
		return "8110" // A15
	case major == 15:
		return "8120" // A16
	case major == 16:
		return "8130" // A17 Pro
	default:
		return "8140" // A18
	}
}

// ecidUDID formats a UDID as devices with Apple silicon report it:
// 0000<chip id>-<16 hex digits of ECID>.
func ecidUDID(f *gofakeit.Faker, chip string) string {
	return fmt.Sprintf("0000%s-%016X", chip, f.Uint64()&0x000FFFFFFFFFFFFF)
}

// imei returns a 15-digit IMEI with a valid Luhn check digit.
func imei(f *gofakeit.Faker) string {
	d := make([]int, 15)
	d[0], d[1] = 3, 5
	for i := 2; i < 14; i++ {
		d[i] = f.Number(0, 9)
	}
	sum := 0
	for i := 0; i < 14; i++ {
		v := d[i]
		if i%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	d[14] = (10 - sum%10) % 10
	var b strings.Builder
	for _, v := range d {
		b.WriteByte(byte('0' + v))
	}
	return b.String()
}

// timeZones is where a default fleet lives: a spread of offsets, including
// half-hour zones and both hemispheres.
var timeZones = []string{
	"America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
	"Europe/London", "Europe/Paris", "Europe/Berlin", "Africa/Johannesburg", "Asia/Dubai",
	"Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
}

// appleOUIs are organisationally unique identifiers registered to Apple
// (IEEE MA-L registry). A MAC address drawn from them is unicast and
// universally administered, as a device's hardware addresses are.
var appleOUIs = [...][3]byte{
	{0x00, 0x03, 0x93}, {0x00, 0x0a, 0x95}, {0x00, 0x1c, 0xb3}, {0x00, 0x1e, 0xc2},
	{0x00, 0x23, 0xdf}, {0x00, 0x25, 0x00}, {0x04, 0x0c, 0xce}, {0x10, 0x9a, 0xdd},
	{0x28, 0xcf, 0xe9}, {0x3c, 0x07, 0x54}, {0x40, 0x6c, 0x8f}, {0x60, 0x33, 0x4b},
	{0x70, 0x56, 0x81}, {0x88, 0x66, 0xa5}, {0xa4, 0x5e, 0x60}, {0xf0, 0x18, 0x98},
}

// appleMAC draws a hardware address on one of Apple's OUIs. It takes as
// many draws from f as f.MacAddress did, so the fields drawn after it stay
// what they were for a given seed.
func appleMAC(f *gofakeit.Faker) string {
	var b [6]byte
	for i := range b {
		b[i] = byte(f.Rand.Intn(255))
	}
	oui := appleOUIs[int(b[0])%len(appleOUIs)]
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", oui[0], oui[1], oui[2], b[3], b[4], b[5])
}

func timeZone(f *gofakeit.Faker) string { return timeZones[f.Number(0, len(timeZones)-1)] }
