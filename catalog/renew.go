package catalog

import (
	"time"
)

// Renewal: Apple re-posts the releases that are still current with a new
// PostingDate and ExpirationDate before they expire (macOS 12.7.6, 21H1320:
// posted 2025-05-19 expiring 2026-01-19, again 2026-01-08 expiring
// 2026-07-11, again 2026-05-18 expiring 2026-11-20, in the three embedded
// answers). The catalog's history ends with its newest answer, so past
// that answer's expiration dates it would otherwise list nothing at all.
// It models the renewal: the newest release of each platform and major in
// the newest loaded answer is re-posted on the day it would expire, for
// DefaultExpiration more, again and again, until the timeline posts a
// newer release of that major (Post), from when it lapses. Every other
// asset expires on its ExpirationDate. docs/fidelity.md lists the model.

type platformMajor struct {
	platform Platform
	major    int
}

// markRenewals flags the entries Apple would keep renewing; c.mu is held
// for writing. Entries are never modified once stored: a flag that changes
// replaces the entry.
func (c *Catalog) markRenewals() {
	// The newest answer: its day is the latest loaded PostingDate, and it
	// lists what was posted by then and not yet expired.
	var horizon time.Time
	for _, e := range c.entries {
		if !e.posted && e.PostingDate.After(horizon) {
			horizon = e.PostingDate
		}
	}
	live := func(e *entry) bool {
		return !e.posted && !e.SecurityImprovement && !e.PostingDate.After(horizon) &&
			(e.ExpirationDate.IsZero() || horizon.Before(e.ExpirationDate))
	}
	top := map[platformMajor]Version{}
	for _, e := range c.entries {
		if !live(e) {
			continue
		}
		k := platformMajor{e.Platform, e.ver.Major}
		if t, ok := top[k]; !ok || t.Less(e.ver) {
			top[k] = e.ver
		}
	}
	for i, e := range c.entries {
		renew := live(e) && top[platformMajor{e.Platform, e.ver.Major}] == e.ver
		if renew != e.renew {
			n := *e
			n.renew = renew
			c.entries[i] = &n
		}
	}
	c.renewedTop = top
}

// notePostLocked makes a renewed release lapse once a newer one of its
// major is posted at at; c.mu is held for writing.
func (c *Catalog) notePostLocked(r Release, at time.Time) {
	if r.SecurityImprovement {
		return
	}
	v := r.Version()
	k := platformMajor{r.Platform, v.Major}
	top, ok := c.renewedTop[k]
	if !ok || !top.Less(v) {
		return
	}
	if c.lapses == nil {
		c.lapses = map[platformMajor]time.Time{}
	}
	if t, ok := c.lapses[k]; !ok || at.Before(t) {
		c.lapses[k] = at
	}
}

// expiredLocked reports whether e is past its expiration at at, renewals
// included; c.mu is held.
func (c *Catalog) expiredLocked(e *entry, at time.Time) bool {
	if e.ExpirationDate.IsZero() || at.Before(e.ExpirationDate) {
		return false
	}
	if !e.renew {
		return true
	}
	t, ok := c.lapses[platformMajor{e.Platform, e.ver.Major}]
	return ok && !at.Before(t)
}

// releaseAt is e's release as Apple lists it at at: a renewed release
// carries the dates of its latest re-posting.
func releaseAt(e *entry, at time.Time) Release {
	r := e.Release
	if !e.renew || e.ExpirationDate.IsZero() || at.Before(e.ExpirationDate) {
		return r
	}
	n := at.Sub(e.ExpirationDate)/DefaultExpiration + 1
	r.PostingDate = e.ExpirationDate.Add((n - 1) * DefaultExpiration)
	r.ExpirationDate = r.PostingDate.Add(DefaultExpiration)
	return r
}
