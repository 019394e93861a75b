// Package keypool hands devices private keys from a pool generated once, in
// parallel, and cached on disk: for tests and benchmarks of SCEP fleets
// that are not about key generation. An RSA-2048 key costs about 60 ms of
// CPU to generate (BenchmarkGenerateRSA2048 prints it); a thousand devices enrolling over SCEP spend a minute
// on it each run, and a pool spends it once per cache folder.
//
// It is opt-in: a device given no key source generates its key as a real
// device does (simulator.WithKeySource takes Pool.SCEPKey).
//
//	pool, err := keypool.Open(ctx, keypool.Config{Dir: dir, Size: 1000})
//	f, err := fleet.New(cfg, simulator.WithKeySource(pool.SCEPKey))
//	pool.Assign(f.UDIDs()...) // optional: device i gets key i
//
// # Assignment
//
// Key(i) is the pool's i-th key (modulo its size). For(udid) is the key a
// device gets: the one Assign pinned it to, or else the one a hash of the
// pool's seed and the UDID picks. A fleet's UDIDs come from its seed, so
// the same seed and the same cache folder give every device the same key
// from run to run. Without Assign two devices may share a key (a pool
// smaller than the fleet always does): their certificates still differ,
// and neither SCEP nor NanoMDM minds.
//
// Keys are not derived from the seed: crypto/rsa and crypto/ecdsa draw
// from the system's randomness whatever reader they are given. The cache
// folder is what makes a pool repeatable; a new folder is a new pool.
//
// # Files
//
// The folder holds files of KeysPerFile keys each, named <kind>-NNNNNN.keys
// (file n holds keys n·KeysPerFile to (n+1)·KeysPerFile-1):
//
//	magic "MDMSKEYP", format version (uint16), kind (uint8 length, bytes),
//	file number (uint32), key count (uint32),
//	then per key: length (uint32) and the PKCS#8 DER,
//	then the SHA-256 of everything before it.
//
// Integers are big-endian. A file that is not a pool file, of another
// version, of another kind or number, truncated or altered is an error
// naming it (ErrCorrupt): a pool never hands out a key it cannot vouch
// for. A file is written to a temporary name and linked into place only
// if no file has that name yet, so processes sharing a folder never see
// half a file and agree on its keys (the first one written wins).
//
// # Memory
//
// A pool holds at most Config.CachedFiles files in memory (their DER and
// the keys parsed from them, on demand), whatever its size: a million-key
// pool costs what a thousand-key one does.
package keypool
