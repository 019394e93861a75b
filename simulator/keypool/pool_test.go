package keypool

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// open opens a pool on dir; small files keep RSA tests affordable.
func open(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func publicDER(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func keyAt(t *testing.T, p *Pool, i int) []byte {
	t.Helper()
	k, err := p.Key(i)
	if err != nil {
		t.Fatalf("Key(%d): %v", i, err)
	}
	return publicDER(t, k)
}

// A second pool on the same folder generates nothing and hands out the
// same keys, RSA and P-256 alike.
func TestReuse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		kind       Kind
		size, file int
	}{{P256, 150, KeysPerFile}, {RSA2048, 5, 2}} {
		t.Run(string(c.kind), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := Config{Dir: dir, Kind: c.kind, Size: c.size, keysPerFile: c.file}
			a := open(t, cfg)
			files := (c.size + c.file - 1) / c.file
			if a.Generated() != files*c.file {
				t.Errorf("first pool generated %d keys, want %d", a.Generated(), files*c.file)
			}
			b := open(t, cfg)
			if b.Generated() != 0 {
				t.Errorf("second pool generated %d keys, want 0", b.Generated())
			}
			seen := map[string]bool{}
			for i := range c.size {
				ka, kb := keyAt(t, a, i), keyAt(t, b, i)
				if !bytes.Equal(ka, kb) {
					t.Fatalf("key %d differs between the two pools", i)
				}
				seen[string(ka)] = true
			}
			if len(seen) != c.size {
				t.Errorf("%d distinct keys, want %d", len(seen), c.size)
			}
			if !bytes.Equal(keyAt(t, a, c.size), keyAt(t, a, 0)) {
				t.Error("Key(Size) is not Key(0)")
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != files {
				t.Errorf("%d entries in the folder, want %d files and no temporary one", len(ents), files)
			}
			// A bigger pool on the folder keeps the files it finds.
			big := open(t, Config{Dir: dir, Kind: c.kind, Size: c.size + c.file, keysPerFile: c.file})
			if big.Generated() != c.file {
				t.Errorf("bigger pool generated %d keys, want %d", big.Generated(), c.file)
			}
			if !bytes.Equal(keyAt(t, big, 1), keyAt(t, a, 1)) {
				t.Error("the bigger pool's key 1 differs")
			}
		})
	}
}

func TestRSAKeys(t *testing.T) {
	t.Parallel()
	p := open(t, Config{Dir: t.TempDir(), Size: 2, keysPerFile: 2})
	k, err := p.SCEPKey("UDID-1", 2048)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 2048 {
		t.Errorf("modulus of %d bits, want 2048", k.N.BitLen())
	}
	if err := k.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := p.SCEPKey("UDID-1", 4096); !errors.Is(err, ErrKind) {
		t.Errorf("SCEPKey for RSA-4096: have %v, want ErrKind", err)
	}
	ec := open(t, Config{Dir: t.TempDir(), Kind: P256, Size: 1})
	if _, err := ec.SCEPKey("UDID-1", 2048); !errors.Is(err, ErrKind) {
		t.Errorf("SCEPKey of a P-256 pool: have %v, want ErrKind", err)
	}
}

// The same seed gives a device the same key; Assign pins devices to keys
// in order.
func TestAssignment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p1 := open(t, Config{Dir: dir, Kind: P256, Size: 100, Seed: 7})
	p2 := open(t, Config{Dir: dir, Kind: P256, Size: 100, Seed: 7})
	p3 := open(t, Config{Dir: dir, Kind: P256, Size: 100, Seed: 8})
	udids := make([]string, 50)
	same, other := 0, 0
	for i := range udids {
		udids[i] = fmt.Sprintf("00008120-%016X", i)
		if p1.Index(udids[i]) == p2.Index(udids[i]) {
			same++
		}
		if p1.Index(udids[i]) != p3.Index(udids[i]) {
			other++
		}
		k1, err := p1.For(udids[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(publicDER(t, k1), keyAt(t, p2, p2.Index(udids[i]))) {
			t.Fatalf("%s: For and Key(Index) disagree", udids[i])
		}
	}
	if same != len(udids) {
		t.Errorf("same seed: %d of %d devices got the same key", same, len(udids))
	}
	if other < len(udids)/2 {
		t.Errorf("another seed moved only %d of %d devices", other, len(udids))
	}
	p1.Assign(udids...)
	for i, u := range udids {
		if p1.Index(u) != i {
			t.Fatalf("assigned %s: index %d, want %d", u, p1.Index(u), i)
		}
	}
	if p1.Index("not assigned") != p2.Index("not assigned") {
		t.Error("Assign moved a device it was not given")
	}
}

// Damaged or foreign files are errors naming the file, never keys.
func TestCorrupt(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	open(t, Config{Dir: src, Kind: P256, Size: 1})
	good, err := os.ReadFile(filepath.Join(src, "p256-000000.keys"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	otherVersion := bytes.Clone(good)
	otherVersion[len(magic)+1]++
	for _, c := range []struct {
		name, want string
		data       []byte
		file       string
	}{
		{"foreign", "not a key pool file", []byte("-----BEGIN PRIVATE KEY-----\n"), ""},
		{"empty", "not a key pool file", nil, ""},
		{"version", "format version 2", otherVersion, ""},
		{"key byte", "checksum mismatch", flip(len(good) / 2), ""},
		{"checksum byte", "checksum mismatch", flip(len(good) - 1), ""},
		{"truncated", "checksum mismatch", good[:len(good)-100], ""},
		{"renamed", "file number 0, want 1", good, "p256-000001.keys"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			size := 1
			if c.file == "" {
				c.file = "p256-000000.keys"
			} else {
				size = 2 * KeysPerFile
				if err := os.WriteFile(filepath.Join(dir, "p256-000000.keys"), good, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, c.file), c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(t.Context(), Config{Dir: dir, Kind: P256, Size: size})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
				t.Errorf("have %v, want ErrCorrupt naming %s and saying %q", err, c.file, c.want)
			}
		})
	}

	// A file of another kind under this kind's name.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rsa2048-000000.keys"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), Config{Dir: dir, Size: 1}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `holds "p256" keys`) {
		t.Errorf("kind: have %v, want ErrCorrupt", err)
	}

	// Damage after Open shows when the file is next read.
	dir = t.TempDir()
	p := open(t, Config{Dir: dir, Kind: P256, Size: 2 * KeysPerFile, CachedFiles: 1})
	if _, err := p.Key(0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p256-000001.keys"), flip(len(good)/2), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Key(KeysPerFile); !errors.Is(err, ErrCorrupt) {
		t.Errorf("key of a file damaged after Open: have %v, want ErrCorrupt", err)
	}
	if _, err := p.Key(0); err != nil {
		t.Errorf("key of the intact file: %v", err)
	}
}

// Concurrent callers, with a cache of one file, get the keys a lone caller
// gets; memory stays within the bound.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const size = 4 * KeysPerFile
	p := open(t, Config{Dir: dir, Kind: P256, Size: size, CachedFiles: 1})
	want := make([][]byte, size)
	ref := open(t, Config{Dir: dir, Kind: P256, Size: size})
	for i := range want {
		want[i] = keyAt(t, ref, i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := range 4 * size {
				i := (n*7 + g*13) % size
				k, err := p.Key(i)
				if err != nil {
					errs <- err
					return
				}
				der, _ := x509.MarshalPKIXPublicKey(k.Public())
				if !bytes.Equal(der, want[i]) {
					errs <- fmt.Errorf("key %d differs", i)
					return
				}
				if c := p.cached(); c > 1 {
					errs <- fmt.Errorf("%d files cached, bound 1", c)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Pools opened at once on an empty folder, as test processes sharing a
// cache do, agree on every key: the first file written wins.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const size = 3 * KeysPerFile
	pools := make([]*Pool, 4)
	errs := make([]error, len(pools))
	var wg sync.WaitGroup
	for i := range pools {
		wg.Go(func() { pools[i], errs[i] = Open(t.Context(), Config{Dir: dir, Kind: P256, Size: size, Workers: 2}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range size {
		first := keyAt(t, pools[0], i)
		for _, p := range pools[1:] {
			if !bytes.Equal(keyAt(t, p, i), first) {
				t.Fatalf("key %d differs between pools opened together", i)
			}
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{Size: 1}, {Dir: "x"}, {Dir: "x", Size: 1, Kind: "rsa1024"}} {
		if _, err := Open(t.Context(), cfg); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
	p := open(t, Config{Dir: t.TempDir(), Kind: P256, Size: 1})
	if _, err := p.Key(-1); err == nil {
		t.Error("Key(-1) succeeded")
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Open(ctx, Config{Dir: t.TempDir(), Size: 1}); err == nil {
		t.Error("Open with a cancelled context generated its keys")
	}
}

// BenchmarkGenerateRSA2048 is what the pool saves a device: one RSA-2048
// key generated (about 60 ms of CPU here).
func BenchmarkGenerateRSA2048(b *testing.B) {
	for b.Loop() {
		if _, err := rsa.GenerateKey(rand.Reader, 2048); err != nil {
			b.Fatal(err)
		}
	}
}
