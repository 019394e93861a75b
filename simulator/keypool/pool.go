package keypool

import (
	"container/list"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Kind is the kind of key a pool holds.
type Kind string

// Kinds of keys.
const (
	// RSA2048 is RSA with a 2048-bit modulus: what SCEP payloads ask for.
	RSA2048 Kind = "rsa2048"
	// P256 is ECDSA on NIST P-256: what identities minted without SCEP
	// use.
	P256 Kind = "p256"
)

// Defaults and limits.
const (
	// KeysPerFile is how many keys one cache file holds.
	KeysPerFile = 64
	// DefaultCachedFiles bounds the files a pool holds in memory.
	DefaultCachedFiles = 16
)

// Errors.
var (
	// ErrCorrupt: a cache file is not a pool file, is of another format
	// version, kind or number, or was truncated or altered.
	ErrCorrupt = errors.New("keypool: corrupt or foreign cache file")
	// ErrKind: the pool's keys are not of the kind asked for.
	ErrKind = errors.New("keypool: wrong kind of key")
)

// Config describes a pool.
type Config struct {
	// Dir is the cache folder, made if missing. Required.
	Dir string
	// Kind is the kind of key (default RSA2048).
	Kind Kind
	// Size is how many distinct keys the pool hands out. Keys are made
	// and kept by whole files, KeysPerFile at a time.
	Size int
	// Seed decides, with the UDID, which key For gives a device that
	// Assign did not pin.
	Seed int64
	// Workers generate missing keys in parallel (default GOMAXPROCS).
	Workers int
	// CachedFiles bounds the files held in memory (DefaultCachedFiles).
	CachedFiles int

	// keysPerFile overrides KeysPerFile, for tests that cannot afford 64
	// RSA keys.
	keysPerFile int
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return errors.New("keypool: a cache folder is required")
	}
	if c.Kind == "" {
		c.Kind = RSA2048
	}
	if c.Kind != RSA2048 && c.Kind != P256 {
		return fmt.Errorf("keypool: unknown kind %q (want %q or %q)", c.Kind, RSA2048, P256)
	}
	if c.Size < 1 {
		return fmt.Errorf("keypool: size must be at least 1, have %d", c.Size)
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.CachedFiles <= 0 {
		c.CachedFiles = DefaultCachedFiles
	}
	if c.keysPerFile <= 0 {
		c.keysPerFile = KeysPerFile
	}
	return nil
}

// Pool hands out keys from its cache folder. It is safe for concurrent use.
type Pool struct {
	cfg       Config
	files     int // files the pool spans
	generated int // keys this pool had to generate at Open

	mu    sync.Mutex
	cache map[int]*list.Element // file number -> element holding *file
	lru   *list.List            // most recently used first

	assignMu sync.RWMutex
	assigned map[string]int
}

// file is one cache file in memory: its keys' DER, parsed on demand.
type file struct {
	n    int
	once sync.Once
	ders [][]byte
	err  error

	parsed []parsedKey
}

type parsedKey struct {
	once sync.Once
	key  crypto.Signer
	err  error
}

// Open opens the pool cfg describes: it checks the cache files already in
// the folder (a bad one is an error, ErrCorrupt) and generates the
// missing ones, with cfg.Workers in parallel. ctx bounds the generation.
func Open(ctx context.Context, cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("keypool: %w", err)
	}
	p := &Pool{cfg: cfg, files: (cfg.Size + cfg.keysPerFile - 1) / cfg.keysPerFile,
		cache: map[int]*list.Element{}, lru: list.New()}
	var missing []int
	for n := range p.files {
		_, err := p.readFile(n)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, n)
		default:
			return nil, err
		}
	}
	if len(missing) > 0 {
		if err := p.generate(ctx, missing); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Size is how many distinct keys the pool hands out.
func (p *Pool) Size() int { return p.cfg.Size }

// Kind is the kind of the pool's keys.
func (p *Pool) Kind() Kind { return p.cfg.Kind }

// Generated is how many keys Open had to generate (0 when the folder
// held them all).
func (p *Pool) Generated() int { return p.generated }

// Key returns the pool's i-th key, i modulo Size.
func (p *Pool) Key(i int) (crypto.Signer, error) {
	if i < 0 {
		return nil, fmt.Errorf("keypool: negative key index %d", i)
	}
	i %= p.cfg.Size
	f := p.file(i / p.cfg.keysPerFile)
	f.once.Do(func() { f.ders, f.err = p.readFile(f.n) })
	if f.err != nil {
		p.drop(f)
		return nil, f.err
	}
	j := i % p.cfg.keysPerFile
	pk := &f.parsed[j]
	pk.once.Do(func() { pk.key, pk.err = parseKey(p.cfg.Kind, f.ders[j]) })
	if pk.err != nil {
		return nil, fmt.Errorf("%w: %s, key %d: %w", ErrCorrupt, p.path(f.n), j, pk.err)
	}
	return pk.key, nil
}

// Index is the number of the key For gives udid.
func (p *Pool) Index(udid string) int {
	p.assignMu.RLock()
	i, ok := p.assigned[udid]
	p.assignMu.RUnlock()
	if ok {
		return i % p.cfg.Size
	}
	return int(hashUDID(p.cfg.Seed, udid) % uint64(p.cfg.Size))
}

// For returns the key of the device udid.
func (p *Pool) For(udid string) (crypto.Signer, error) { return p.Key(p.Index(udid)) }

// Assign pins udids[i] to key i (modulo Size), for devices that must not
// share a key: give it a fleet's UDIDs, in the fleet's order, before the
// devices ask for their keys. A later call pins again. The pool keeps one
// map entry per UDID given.
func (p *Pool) Assign(udids ...string) {
	p.assignMu.Lock()
	defer p.assignMu.Unlock()
	if p.assigned == nil {
		p.assigned = make(map[string]int, len(udids))
	}
	for i, u := range udids {
		p.assigned[u] = i
	}
}

// SCEPKey returns the device's RSA key for a SCEP payload asking for bits:
// the key source simulator.WithKeySource takes. A pool of another kind or
// size is an error (ErrKind).
func (p *Pool) SCEPKey(udid string, bits int) (*rsa.PrivateKey, error) {
	if p.cfg.Kind != RSA2048 || bits != 2048 {
		return nil, fmt.Errorf("%w: the pool holds %s keys, the SCEP payload asks for RSA-%d", ErrKind, p.cfg.Kind, bits)
	}
	k, err := p.For(udid)
	if err != nil {
		return nil, err
	}
	return k.(*rsa.PrivateKey), nil // parseKey checked the type
}

// file returns the cache entry of file n, making it most recently used
// and evicting the least recently used beyond the bound. An evicted entry
// stays valid for whoever holds it.
func (p *Pool) file(n int) *file {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.cache[n]; ok {
		p.lru.MoveToFront(e)
		return e.Value.(*file)
	}
	f := &file{n: n, parsed: make([]parsedKey, p.cfg.keysPerFile)}
	p.cache[n] = p.lru.PushFront(f)
	for p.lru.Len() > p.cfg.CachedFiles {
		old := p.lru.Back()
		p.lru.Remove(old)
		delete(p.cache, old.Value.(*file).n)
	}
	return f
}

// drop forgets a file that failed to load, so a later call reads it again.
func (p *Pool) drop(f *file) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.cache[f.n]; ok && e.Value.(*file) == f {
		p.lru.Remove(e)
		delete(p.cache, f.n)
	}
}

// cached is how many files are held in memory.
func (p *Pool) cached() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.Len()
}

func (p *Pool) path(n int) string {
	return filepath.Join(p.cfg.Dir, fmt.Sprintf("%s-%06d.keys", p.cfg.Kind, n))
}

// hashUDID is FNV-1a of the seed and the UDID, finished with SplitMix64's
// mixer so that nearby UDIDs land on unrelated keys.
func hashUDID(seed int64, udid string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	for _, c := range b {
		h = (h ^ uint64(c)) * prime
	}
	for i := 0; i < len(udid); i++ {
		h = (h ^ uint64(udid[i])) * prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// newKey generates one key of kind k.
func newKey(k Kind) (crypto.Signer, error) {
	if k == P256 {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, 2048)
}
