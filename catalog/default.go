package catalog

import (
	"bytes"
	"embed"
	"fmt"
	"sync"
)

// snapshots are real GDMF answers, oldest first; data/README.md says where
// each comes from.
//
//go:embed data/pmv-*.json data/older-releases.json
var snapshots embed.FS

// olderReleases is not one of Apple's answers: a few releases that shipped
// long before the first snapshot (data/README.md), in the answer's shape,
// long expired, so devices can still run them (macOS before 12.3 and 13.1,
// iOS before 16.2) and no device is offered them.
const olderReleases = "data/older-releases.json"

var snapshotFiles = []string{
	"data/pmv-2025-10-21.json",
	"data/pmv-2026-04-12.json",
	"data/pmv-2026-08-22.json",
}

var defaultCatalog = sync.OnceValue(func() *Catalog {
	c := &Catalog{}
	for _, name := range append([]string{olderReleases}, snapshotFiles...) {
		data, err := snapshots.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("catalog: embedded snapshot: %v", err))
		}
		rels, err := parseDocument(bytes.TrimSpace(data))
		if err != nil {
			panic(fmt.Sprintf("catalog: embedded snapshot %s: %v", name, err))
		}
		c.add(rels)
	}
	return c
})

// Default returns a fresh copy of the built-in catalog: three real GDMF
// answers (2025-10-21, 2026-04-12, 2026-08-22) merged into one history of
// every release Apple offered between late 2024 and August 2026. Each
// call returns an independent Catalog, so a scenario's timeline never leaks
// into another's.
func Default() *Catalog { return defaultCatalog().Clone() }

// Snapshot returns one of the embedded real GDMF bodies as stored (the
// 2025-10-21 and 2026-08-22 files keep SOFA's {"etag","data"} wrapper, the
// 2026-04-12 one is a bare body), by file name: "pmv-2025-10-21.json", "pmv-2026-04-12.json",
// "pmv-2026-08-22.json". Tests use them as golden inputs.
func Snapshot(name string) ([]byte, error) {
	return snapshots.ReadFile("data/" + name)
}

// SnapshotNames lists the embedded snapshots, oldest first.
func SnapshotNames() []string {
	out := make([]string, len(snapshotFiles))
	for i, f := range snapshotFiles {
		out[i] = f[len("data/"):]
	}
	return out
}
