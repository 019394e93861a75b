package catalog

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Catalog is a history of Apple's releases plus a timeline of scenario
// events (Post, Expire). Every query takes the time it is asked at; the
// catalog never reads the clock. A Catalog is safe for concurrent use.
type Catalog struct {
	mu       sync.RWMutex
	entries  []*entry // never modified once stored; Post replaces the pointer
	index    map[string]int
	expiries map[buildKey]time.Time
	// renewedTop and lapses are the renewal model (renew.go).
	renewedTop map[platformMajor]Version
	lapses     map[platformMajor]time.Time
	// byModel caches, per model, what every device lookup starts from;
	// adding or posting a release clears it, the timeline (visibility) is
	// applied on each lookup.
	byModel sync.Map // Model.Identifier -> *modelView
}

// modelView is the catalog seen from one model: the entries it may install,
// newest first, and ShippedBuilds' answer.
type modelView struct {
	entries []*entry
	shipped []Release
}

type entry struct {
	Release
	from    time.Time // visible from here on
	devices map[string]struct{}
	ver     Version // ProductVersion, parsed once
	posted  bool    // by Post (the timeline), not loaded from an answer
	renew   bool    // Apple keeps re-posting it (renew.go)
}

type buildKey struct {
	platform Platform
	build    string
}

func newEntry(r Release, from time.Time) *entry {
	e := &entry{Release: r, from: from, devices: make(map[string]struct{}, len(r.SupportedDevices)), ver: r.Version()}
	for _, d := range r.SupportedDevices {
		e.devices[d] = struct{}{}
	}
	return e
}

func (e *entry) supports(id string) bool {
	_, ok := e.devices[id]
	return ok
}

// add merges releases into the catalog: one entry per (platform, build, kind,
// device list), keeping the earliest posting and the latest expiration seen.
func (c *Catalog) add(rels []Release) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byModel.Clear()
	if c.index == nil {
		c.index = map[string]int{}
	}
	for _, r := range rels {
		k := r.key()
		i, ok := c.index[k]
		if !ok {
			c.index[k] = len(c.entries)
			c.entries = append(c.entries, newEntry(r, r.PostingDate))
			continue
		}
		m := c.entries[i].Release
		m.Public = m.Public || r.Public
		m.publicOnly = m.publicOnly && r.publicOnly
		m.inferPublic = m.inferPublic || r.inferPublic
		if r.PostingDate.Before(m.PostingDate) {
			m.PostingDate = r.PostingDate
		}
		if r.ExpirationDate.After(m.ExpirationDate) {
			m.ExpirationDate = r.ExpirationDate
		}
		c.entries[i] = newEntry(m, m.PostingDate)
	}
	c.markRenewals()
}

// Clone returns an independent copy: timeline events on one do not show in
// the other.
func (c *Catalog) Clone() *Catalog {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return &Catalog{
		entries:    slices.Clone(c.entries),
		index:      maps.Clone(c.index),
		expiries:   maps.Clone(c.expiries),
		renewedTop: maps.Clone(c.renewedTop),
		lapses:     maps.Clone(c.lapses),
	}
}

// Post makes r visible from at on, as if Apple posted it then: its
// PostingDate becomes at's UTC date, and a zero ExpirationDate becomes
// PostingDate + DefaultExpiration. Posting a release that is already in the
// catalog (same platform, build, kind and devices) moves it to at.
//
// A security improvement needs SecurityImprovement, ProductVersionExtra and
// PrerequisiteBuild set; set Public for a release Apple would list in
// PublicAssetSets.
func (c *Catalog) Post(r Release, at time.Time) {
	r.PostingDate = midnight(at)
	if r.ExpirationDate.IsZero() {
		r.ExpirationDate = r.PostingDate.Add(DefaultExpiration)
	} else {
		r.ExpirationDate = midnight(r.ExpirationDate)
	}
	devs := slices.Clone(r.SupportedDevices)
	slices.Sort(devs)
	r.SupportedDevices = slices.Clip(slices.Compact(devs))
	r.publicOnly, r.inferPublic = false, false
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index == nil {
		c.index = map[string]int{}
	}
	c.byModel.Clear()
	e := newEntry(r, at)
	e.posted = true
	c.notePostLocked(r, at)
	k := r.key()
	if i, ok := c.index[k]; ok {
		c.entries[i] = e
		return
	}
	c.index[k] = len(c.entries)
	c.entries = append(c.entries, e)
}

// Expire removes every entry with this build from the answer from at on (a
// withdrawn or pulled update). A later Expire of the same build replaces the
// earlier one.
func (c *Catalog) Expire(platform Platform, build string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expiries == nil {
		c.expiries = map[buildKey]time.Time{}
	}
	c.expiries[buildKey{platform, build}] = at
}

// visible reports whether e is in Apple's answer at at: posted by then,
// not past its ExpirationDate and not expired by the timeline. Apple never
// lists an asset past its ExpirationDate (none of the three embedded
// snapshots does) and an expired asset cannot be installed
// (update-behaviour.md B4.6 (b)); a zero ExpirationDate never expires, and
// the releases Apple keeps re-posting are renewed (renew.go).
func (c *Catalog) visible(e *entry, at time.Time) bool {
	if at.Before(e.from) {
		return false
	}
	if c.expiredLocked(e, at) {
		return false
	}
	if exp, ok := c.expiries[buildKey{e.Platform, e.Build}]; ok && !at.Before(exp) {
		return false
	}
	return true
}

// Releases returns every release visible at at (posted by then, not past
// its ExpirationDate and not expired by the timeline), newest version first
// within each platform.
func (c *Catalog) Releases(at time.Time) []Release {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Release
	for _, e := range c.entries {
		if c.visible(e, at) {
			out = append(out, releaseAt(e, at))
		}
	}
	slices.SortFunc(out, newestFirst)
	return out
}

// ReleasesFor returns the releases visible at at that m may install (its
// SoftwareUpdateDeviceID is in SupportedDevices), newest version first,
// security improvements included. Apple lists some versions under several
// builds ("23G83" and "23G6083"); all of them are returned, lowest build
// first.
func (c *Catalog) ReleasesFor(m Model, at time.Time) []Release {
	c.mu.RLock()
	defer c.mu.RUnlock()
	idx := c.indexLocked(m)
	out := make([]Release, 0, len(idx.entries))
	for _, e := range idx.entries {
		if c.visible(e, at) {
			out = append(out, releaseAt(e, at))
		}
	}
	return out
}

// indexLocked returns m's index, building it on first use. Callers hold at
// least the read lock, so no Post can land between building and storing.
func (c *Catalog) indexLocked(m Model) *modelView {
	if v, ok := c.byModel.Load(m.Identifier); ok {
		return v.(*modelView)
	}
	idx := &modelView{}
	for _, e := range c.entries {
		if e.Platform == m.Platform && e.supports(m.SoftwareUpdateDeviceID) {
			idx.entries = append(idx.entries, e)
		}
	}
	slices.SortFunc(idx.entries, func(a, b *entry) int { return compareNewest(a.Release, b.Release, a.ver, b.ver) })
	var last *entry
	for _, e := range idx.entries {
		if e.SecurityImprovement || (last != nil && last.ver == e.ver) {
			continue
		}
		last = e
		idx.shipped = append(idx.shipped, e.Release)
	}
	c.byModel.Store(m.Identifier, idx)
	return idx
}

// Installable returns what AvailableOSUpdates should list for m running
// installed (build installedBuild) at at, newest first:
//
//   - for each major from installed.Major up, the newest release above
//     installed (a minor update, then major upgrades);
//   - every security improvement whose PrerequisiteBuild is installedBuild,
//     unless installedBuild is the improvement's own build (already applied).
//
// iOS devices report only the first entry; macOS reports them all. Where a
// version has several builds the lowest is used.
func (c *Catalog) Installable(m Model, installed Version, installedBuild string, at time.Time) []Release {
	var out []Release
	seenMajor := map[int]bool{}
	seenBuild := map[string]bool{}
	for _, r := range c.ReleasesFor(m, at) {
		if r.SecurityImprovement {
			if r.PrerequisiteBuild != "" && r.PrerequisiteBuild == installedBuild &&
				r.Build != installedBuild && !seenBuild[r.Build] {
				seenBuild[r.Build] = true
				out = append(out, r)
			}
			continue
		}
		v := r.Version()
		if v.Major < installed.Major || v.Compare(installed) <= 0 || seenMajor[v.Major] {
			continue
		}
		seenMajor[v.Major] = true
		out = append(out, r)
	}
	slices.SortStableFunc(out, newestFirst)
	return out
}

// Latest returns the newest release of major.minor for m visible at at
// ("TargetOSVersion 26.1 means the latest 26.1.x"); a negative minor means
// any minor of the major. Security improvements are not considered.
func (c *Catalog) Latest(m Model, major, minor int, at time.Time) (Release, bool) {
	for _, r := range c.ReleasesFor(m, at) {
		v := r.Version()
		if !r.SecurityImprovement && v.Major == major && (minor < 0 || v.Minor == minor) {
			return r, true
		}
	}
	return Release{}, false
}

// FindBuild returns the release with this build that m may install, visible
// at at (DDM's TargetBuildVersion, or a device looking up what it runs).
func (c *Catalog) FindBuild(m Model, build string, at time.Time) (Release, bool) {
	for _, r := range c.ReleasesFor(m, at) {
		if r.Build == build {
			return r, true
		}
	}
	return Release{}, false
}

// ShippedBuilds returns every OS release the catalog has ever held for m,
// ignoring the timeline, newest first and one build per version (the lowest,
// leaving out Apple's alternate "6xxx"-style builds). A simulated device picks
// its starting OS from these, so the version and build it reports really
// shipped for its model. Security improvements are not included: they are
// applied on top of a base build.
func (c *Catalog) ShippedBuilds(m Model) []Release {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.indexLocked(m).shipped)
}

// PickShipped returns one of ShippedBuilds(m), newest first, chosen by
// pick from their count (pick(n) must be in [0, n)), without copying the
// list: what drawing a fleet of a million devices calls once a device.
func (c *Catalog) PickShipped(m Model, pick func(n int) int) (Release, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	shipped := c.indexLocked(m).shipped
	if len(shipped) == 0 {
		return Release{}, false
	}
	return shipped[min(max(pick(len(shipped)), 0), len(shipped)-1)], true
}

// LatestPostingDate is the newest PostingDate in the catalog (timeline
// included): a scenario that wants "today" to look like the snapshot starts
// its clock there.
func (c *Catalog) LatestPostingDate() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var t time.Time
	for _, e := range c.entries {
		if e.PostingDate.After(t) {
			t = e.PostingDate
		}
	}
	return t
}

// Document renders the GDMF answer at at.
//
// AssetSets holds every visible release and PublicBackgroundSecurityImprovements
// every visible security improvement. PublicAssetSets holds, per device and
// major version, the newest public release: Apple drops a public entry once a
// newer one of the same major covers all its devices. Between two real
// snapshots the history does not say which releases were public, so a loaded
// release that no snapshot listed publicly counts as public when it is newer
// than every public release of its major for a device that has ever had a
// public release of that major (and its build was never listed publicly under
// another device list). On the three embedded snapshots these rules reproduce
// Apple's real PublicAssetSets exactly; see the tests. A release Posted with
// Public false never shows in PublicAssetSets.
//
// Platforms without entries are left out of a set, as Apple does.
func (c *Catalog) Document(at time.Time) Document {
	doc := Document{
		PublicAssetSets:                      map[Platform][]Asset{},
		AssetSets:                            map[Platform][]Asset{},
		PublicBackgroundSecurityImprovements: map[Platform][]Asset{},
	}
	type devKey struct {
		p     Platform
		major int
		dev   string
	}
	// Whole-history facts, timeline ignored: which builds and which
	// (major, device) pairs Apple ever listed publicly.
	publicBuild := map[buildKey]bool{}
	everPublic := map[devKey]bool{}
	var rels []Release
	c.mu.RLock()
	for _, e := range c.entries {
		if e.Public && !e.SecurityImprovement {
			publicBuild[buildKey{e.Platform, e.Build}] = true
			major := e.Version().Major
			for _, d := range e.SupportedDevices {
				everPublic[devKey{e.Platform, major, d}] = true
			}
		}
		if c.visible(e, at) {
			rels = append(rels, releaseAt(e, at))
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(rels, newestFirst)

	inferred := func(r Release) bool {
		return r.inferPublic && !r.Public && !r.SecurityImprovement && !publicBuild[buildKey{r.Platform, r.Build}]
	}
	// Newest flagged-public and newest inferred version per device.
	flaggedTop, inferredTop := map[devKey]Version{}, map[devKey]Version{}
	for _, r := range rels {
		v := r.Version()
		for _, d := range r.SupportedDevices {
			k := devKey{r.Platform, v.Major, d}
			switch {
			case r.In(PublicAssetSets):
				if flaggedTop[k].Less(v) {
					flaggedTop[k] = v
				}
			case inferred(r) && everPublic[k]:
				if inferredTop[k].Less(v) {
					inferredTop[k] = v
				}
			}
		}
	}
	isPublic := func(r Release) bool {
		flagged := r.In(PublicAssetSets)
		if flagged && len(r.SupportedDevices) == 0 {
			return true
		}
		if !flagged && !inferred(r) {
			return false
		}
		v := r.Version()
		for _, d := range r.SupportedDevices {
			k := devKey{r.Platform, v.Major, d}
			f, i := flaggedTop[k], inferredTop[k]
			if flagged && f == v && !f.Less(i) {
				return true
			}
			if !flagged && everPublic[k] && i == v && f.Less(v) {
				return true
			}
		}
		return false
	}
	for _, r := range rels {
		a := asset(r)
		if r.In(AssetSets) {
			doc.AssetSets[r.Platform] = append(doc.AssetSets[r.Platform], a)
		}
		if r.In(PublicBackgroundSecurityImprovements) {
			doc.PublicBackgroundSecurityImprovements[r.Platform] = append(doc.PublicBackgroundSecurityImprovements[r.Platform], a)
		}
		if isPublic(r) {
			doc.PublicAssetSets[r.Platform] = append(doc.PublicAssetSets[r.Platform], a)
		}
	}
	return doc
}

// newestFirst orders by platform, then version (newest first), a security
// improvement before its base version, then build (lowest first), then
// posting date, then device list, so every order is deterministic.
func newestFirst(a, b Release) int { return compareNewest(a, b, a.Version(), b.Version()) }

// compareNewest is newestFirst with the versions already parsed.
func compareNewest(a, b Release, va, vb Version) int {
	if c := strings.Compare(string(a.Platform), string(b.Platform)); c != 0 {
		return c
	}
	if c := vb.Compare(va); c != 0 {
		return c
	}
	if a.SecurityImprovement != b.SecurityImprovement {
		if a.SecurityImprovement {
			return -1
		}
		return 1
	}
	if c := compareBuilds(a.Build, b.Build); c != 0 {
		return c
	}
	if c := a.PostingDate.Compare(b.PostingDate); c != 0 {
		return c
	}
	return strings.Compare(a.key(), b.key())
}

func midnight(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
