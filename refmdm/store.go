package refmdm

import (
	"hash"
	"hash/fnv"

	kmfkv "github.com/jessepeterson/kmfddm/storage/kv"
	nanokv "github.com/micromdm/nanomdm/storage/kv"

	"github.com/mdmsim/mdmsim/internal/kvtree"
)

// The stack's storage is NanoMDM's and KMFDDM's own kv storages
// (storage/kv), built as their storage/inmem builds them but over
// internal/kvtree instead of nanolib's kvmap+kvtxn: kvmap scans every key
// on each prefix look-up, which made enrolling a fleet quadratic, and
// kvtxn's per-key locks deadlock under hundreds of concurrent changes
// (see internal/kvtree's package doc).

// newNanoStore is NanoMDM's storage: one bucket each for users, cert
// auth, the command queue, push certificates, devices and enrollments. The
// queue bucket is returned too, for boundedReports.
func newNanoStore() (*nanokv.KV, *kvtree.Store) {
	queue := kvtree.New()
	return nanokv.New(kvtree.New(), kvtree.New(), queue, kvtree.New(), kvtree.New(), kvtree.New()), queue
}

// newDDMStore is KMFDDM's storage: declarations, sets, enrollments and
// status, with declaration tokens hashed by FNV-128a. The status bucket is
// returned too, for boundedStatus.
func newDDMStore() (*kmfkv.KV, *kvtree.Store) {
	status := kvtree.New()
	return kmfkv.New(func() hash.Hash { return fnv.New128a() }, kvtree.New(), kvtree.New(), kvtree.New(), status), status
}
