package catalog

import (
	"cmp"
	"slices"
	"strings"
)

// Platform is a platform key of the GDMF answer. iPhone and iPad releases are
// both under "iOS" (as are watchOS, tvOS and HomePod releases).
type Platform string

// The platform keys Apple uses in /v2/pmv.
const (
	MacOS    Platform = "macOS"
	IOS      Platform = "iOS"
	VisionOS Platform = "visionOS"
)

// Model is one Apple hardware model as a simulated device presents it.
type Model struct {
	// Identifier is the product type the device reports as ProductName /
	// Model: "Mac14,2", "iPhone15,2", "iPad13,18".
	Identifier string
	Platform   Platform
	// Family is "Mac", "iPhone" or "iPad".
	Family string
	// ModelName is DeviceInformation ModelName: "MacBook Air", "Mac mini",
	// "iMac", "iPhone", "iPad", …
	ModelName string
	// MarketingName is Apple's name for the model: "MacBook Air (M2, 2022)",
	// "iPhone 14 Pro".
	MarketingName string
	// BoardID is the internal board name: "J413AP" for Mac14,2, "D73AP" for
	// iPhone15,2. For an Intel Mac with a T2 chip it is the T2's board
	// ("J152FAP"), the name GDMF lists, not the EFI "Mac-…" board-id.
	BoardID string
	// SoftwareUpdateDeviceID is what GDMF's SupportedDevices lists for the
	// model (and what the device reports as SoftwareUpdateDeviceID): the
	// board ID for Apple-silicon and T2 Macs, the product type for iPhone
	// and iPad.
	SoftwareUpdateDeviceID string
	// AppleSilicon and T2 describe Macs only; both are false for iPhone and
	// iPad.
	AppleSilicon bool
	T2           bool
	// ModelNumber is a plausible part number with region ("MLY33LL/A"), one
	// configuration per model. Nothing looks models up by it.
	ModelNumber string
}

// Models returns the population a simulated fleet draws from: Apple-silicon
// Macs (M1–M4), Intel Macs with a T2 chip, and iPhones and iPads of the last
// six years, sorted by platform then identifier. Every SoftwareUpdateDeviceID
// appears in the default catalog.
func Models() []Model { return slices.Clone(models) }

// ModelRef returns the population's own copy of a model, shared by every
// device of that model (a simulated fleet holds a pointer, not a copy). It
// must not be modified.
func ModelRef(identifier string) (*Model, bool) {
	i, ok := modelIndex[identifier]
	if !ok {
		return nil, false
	}
	return &models[i], true
}

// LookupModel finds a model of the population by its Identifier.
func LookupModel(identifier string) (Model, bool) {
	i, ok := modelIndex[identifier]
	if !ok {
		return Model{}, false
	}
	return models[i], true
}

var (
	models     = buildModels()
	modelIndex = func() map[string]int {
		m := make(map[string]int, len(models))
		for i, md := range models {
			m[md.Identifier] = i
		}
		return m
	}()
)

// mac, t2Mac, iPhone and iPad fill the derived fields so the table below
// holds only the facts.
func mac(id, modelName, marketing, board, number string) Model {
	return Model{Identifier: id, Platform: MacOS, Family: "Mac", ModelName: modelName,
		MarketingName: marketing, BoardID: board, SoftwareUpdateDeviceID: board,
		AppleSilicon: true, ModelNumber: number}
}

func t2Mac(id, modelName, marketing, board, number string) Model {
	m := mac(id, modelName, marketing, board, number)
	m.AppleSilicon, m.T2 = false, true
	return m
}

func iPhone(id, marketing, board, number string) Model {
	return Model{Identifier: id, Platform: IOS, Family: "iPhone", ModelName: "iPhone",
		MarketingName: marketing, BoardID: board, SoftwareUpdateDeviceID: id, ModelNumber: number}
}

func iPad(id, marketing, board, number string) Model {
	return Model{Identifier: id, Platform: IOS, Family: "iPad", ModelName: "iPad",
		MarketingName: marketing, BoardID: board, SoftwareUpdateDeviceID: id, ModelNumber: number}
}

// Sources. Apple-silicon Macs: board IDs and marketing names from SOFA's
// mac_models_mapping.json (catalog/data/README.md names the project), which
// agrees with the public DFU device tables (libirecovery). T2 Macs, iPhones and
// iPads: board IDs from those device tables. SOFA's mapping files are wrong for
// several T2 Macs (they put J185AP on MacBookPro15,1 and J230KAP on
// MacBookPro16,4, yet GDMF lists J185AP for macOS 26, which the 2018 MacBook
// Pro cannot run, and leaves J230KAP out of it although the 16-inch 2019 can);
// the device tables agree with GDMF on every T2 board used here. The tests check
// that each SoftwareUpdateDeviceID is in the default catalog.
func buildModels() []Model {
	ms := []Model{
		// Apple silicon, M1.
		mac("MacBookAir10,1", "MacBook Air", "MacBook Air (M1, 2020)", "J313AP", "MGN63LL/A"),
		mac("MacBookPro17,1", "MacBook Pro", "MacBook Pro (13-inch, M1, 2020)", "J293AP", "MYD82LL/A"),
		mac("Macmini9,1", "Mac mini", "Mac mini (M1, Late 2020)", "J274AP", "MGNR3LL/A"),
		mac("iMac21,1", "iMac", "iMac (24-inch, M1, 2021)", "J456AP", "MGPK3LL/A"),
		mac("iMac21,2", "iMac", "iMac (24-inch, M1, 2021)", "J457AP", "MJV93LL/A"),
		mac("MacBookPro18,1", "MacBook Pro", "MacBook Pro (16-inch, M1 Pro, 2021)", "J316sAP", "MK183LL/A"),
		mac("MacBookPro18,2", "MacBook Pro", "MacBook Pro (16-inch, M1 Max, 2021)", "J316cAP", "MK1A3LL/A"),
		mac("MacBookPro18,3", "MacBook Pro", "MacBook Pro (14-inch, M1 Pro, 2021)", "J314sAP", "MKGP3LL/A"),
		mac("Mac13,1", "Mac Studio", "Mac Studio (M1 Max)", "J375cAP", "MJMV3LL/A"),
		mac("Mac13,2", "Mac Studio", "Mac Studio (M1 Ultra)", "J375dAP", "MJMW3LL/A"),
		// M2.
		mac("Mac14,2", "MacBook Air", "MacBook Air (M2, 2022)", "J413AP", "MLY33LL/A"),
		mac("Mac14,7", "MacBook Pro", "MacBook Pro (13-inch, M2, 2022)", "J493AP", "MNEH3LL/A"),
		mac("Mac14,3", "Mac mini", "Mac mini (M2, 2023)", "J473AP", "MMFJ3LL/A"),
		mac("Mac14,12", "Mac mini", "Mac mini (M2 Pro, 2023)", "J474sAP", "MNH73LL/A"),
		mac("Mac14,15", "MacBook Air", "MacBook Air (15-inch, M2, 2023)", "J415AP", "MQKP3LL/A"),
		mac("Mac14,9", "MacBook Pro", "MacBook Pro (14-inch, M2 Pro, 2023)", "J414sAP", "MPHE3LL/A"),
		mac("Mac14,10", "MacBook Pro", "MacBook Pro (16-inch, M2 Pro, 2023)", "J416sAP", "MNW83LL/A"),
		mac("Mac14,13", "Mac Studio", "Mac Studio (M2 Max, 2023)", "J475cAP", "MQH73LL/A"),
		// M3.
		mac("Mac15,3", "MacBook Pro", "MacBook Pro (14-inch, M3, Nov 2023)", "J504AP", "MTL73LL/A"),
		mac("Mac15,6", "MacBook Pro", "MacBook Pro (14-inch, M3 Pro, Nov 2023)", "J514sAP", "MRX33LL/A"),
		mac("Mac15,12", "MacBook Air", "MacBook Air (13-inch, M3, 2024)", "J613AP", "MRXN3LL/A"),
		mac("Mac15,13", "MacBook Air", "MacBook Air (15-inch, M3, 2024)", "J615AP", "MRYU3LL/A"),
		// M4.
		mac("Mac16,1", "MacBook Pro", "MacBook Pro (14-inch, M4, Nov 2024)", "J604AP", "MW2U3LL/A"),
		mac("Mac16,8", "MacBook Pro", "MacBook Pro (14-inch, M4 Pro, Nov 2024)", "J614sAP", "MX2H3LL/A"),
		mac("Mac16,10", "Mac mini", "Mac mini (M4, 2024)", "J773gAP", "MU9D3LL/A"),
		mac("Mac16,11", "Mac mini", "Mac mini (M4 Pro, 2024)", "J773sAP", "MCX44LL/A"),
		mac("Mac16,12", "MacBook Air", "MacBook Air (13-inch, M4, 2025)", "J713AP", "MW123LL/A"),

		// Intel with T2.
		t2Mac("MacBookPro15,2", "MacBook Pro", "MacBook Pro (13-inch, 2018, Four Thunderbolt 3 ports)", "J132AP", "MR9Q2LL/A"),
		t2Mac("MacBookPro16,1", "MacBook Pro", "MacBook Pro (16-inch, 2019)", "J152FAP", "MVVJ2LL/A"),
		t2Mac("MacBookPro16,2", "MacBook Pro", "MacBook Pro (13-inch, 2020, Four Thunderbolt 3 ports)", "J214KAP", "MWP42LL/A"),
		t2Mac("MacBookAir9,1", "MacBook Air", "MacBook Air (Retina, 13-inch, 2020)", "J230KAP", "MWTJ2LL/A"),
		t2Mac("Macmini8,1", "Mac mini", "Mac mini (2018)", "J174AP", "MRTR2LL/A"),
		t2Mac("iMac20,1", "iMac", "iMac (Retina 5K, 27-inch, 2020)", "J185AP", "MXWT2LL/A"),
		t2Mac("iMacPro1,1", "iMac Pro", "iMac Pro", "J137AP", "MQ2Y2LL/A"),

		// iPhone.
		iPhone("iPhone12,1", "iPhone 11", "N104AP", "MWLT2LL/A"),
		iPhone("iPhone12,8", "iPhone SE (2nd generation)", "D79AP", "MX9R2LL/A"),
		iPhone("iPhone13,2", "iPhone 12", "D53gAP", "MGJ53LL/A"),
		iPhone("iPhone13,3", "iPhone 12 Pro", "D53pAP", "MGLW3LL/A"),
		iPhone("iPhone14,2", "iPhone 13 Pro", "D63AP", "MLVA3LL/A"),
		iPhone("iPhone14,5", "iPhone 13", "D17AP", "MLPF3LL/A"),
		iPhone("iPhone14,6", "iPhone SE (3rd generation)", "D49AP", "MMXF3LL/A"),
		iPhone("iPhone14,7", "iPhone 14", "D27AP", "MPUF3LL/A"),
		iPhone("iPhone15,2", "iPhone 14 Pro", "D73AP", "MPXV3LL/A"),
		iPhone("iPhone15,3", "iPhone 14 Pro Max", "D74AP", "MQ8N3LL/A"),
		iPhone("iPhone15,4", "iPhone 15", "D37AP", "MTLG3LL/A"),
		iPhone("iPhone16,1", "iPhone 15 Pro", "D83AP", "MTUV3LL/A"),
		iPhone("iPhone16,2", "iPhone 15 Pro Max", "D84AP", "MU663LL/A"),
		iPhone("iPhone17,1", "iPhone 16 Pro", "D93AP", "MYMC3LL/A"),
		iPhone("iPhone17,3", "iPhone 16", "D47AP", "MYAP3LL/A"),
		iPhone("iPhone17,5", "iPhone 16e", "V59AP", "MD1Q4LL/A"),

		// iPad.
		iPad("iPad12,1", "iPad (9th generation)", "J181AP", "MK2K3LL/A"),
		iPad("iPad13,18", "iPad (10th generation)", "J271AP", "MPQ03LL/A"),
		iPad("iPad14,1", "iPad mini (6th generation)", "J310AP", "MK7M3LL/A"),
		iPad("iPad13,16", "iPad Air (5th generation)", "J407AP", "MM9C3LL/A"),
		iPad("iPad14,8", "iPad Air 11-inch (M2)", "J507AP", "MUWC3LL/A"),
		iPad("iPad13,4", "iPad Pro 11-inch (3rd generation)", "J517AP", "MHQR3LL/A"),
		iPad("iPad14,3", "iPad Pro 11-inch (4th generation)", "J617AP", "MNXD3LL/A"),
		iPad("iPad16,3", "iPad Pro 11-inch (M4)", "J717AP", "MVV83LL/A"),
		iPad("iPad16,1", "iPad mini (A17 Pro)", "J410AP", "MXN73LL/A"),
		iPad("iPad15,3", "iPad Air 11-inch (M3)", "J607AP", "MC9X4LL/A"),
	}
	slices.SortFunc(ms, func(a, b Model) int {
		if c := strings.Compare(string(a.Platform), string(b.Platform)); c != 0 {
			return c
		}
		return compareIdentifiers(a.Identifier, b.Identifier)
	})
	return ms
}

// compareIdentifiers orders "Mac14,2" before "Mac14,10" (name, then numbers).
func compareIdentifiers(a, b string) int {
	na, xa, ya := splitIdentifier(a)
	nb, xb, yb := splitIdentifier(b)
	if c := strings.Compare(na, nb); c != 0 {
		return c
	}
	if c := cmp.Compare(xa, xb); c != 0 {
		return c
	}
	if c := cmp.Compare(ya, yb); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func splitIdentifier(s string) (name string, major, minor int) {
	i := strings.IndexAny(s, "0123456789")
	if i < 0 {
		return s, 0, 0
	}
	name = s[:i]
	nums := strings.SplitN(s[i:], ",", 2)
	major = atoiPrefix(nums[0])
	if len(nums) == 2 {
		minor = atoiPrefix(nums[1])
	}
	return name, major, minor
}

func atoiPrefix(s string) int {
	n := 0
	for i := 0; i < len(s) && i < 6 && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
