package keypool

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
)

// The cache file format (see the package documentation).
const (
	magic = "MDMSKEYP"
	// FormatVersion is the version of the cache files this package reads
	// and writes; files of another version are refused, not converted.
	FormatVersion = 1
	// maxFileSize bounds what is read of one file: KeysPerFile RSA-4096
	// keys would not reach it.
	maxFileSize = 4 << 20
)

// readFile reads, checks and splits cache file n into its keys' DER. A
// missing file is an error wrapping fs.ErrNotExist; anything else that is
// wrong wraps ErrCorrupt.
func (p *Pool) readFile(n int) ([][]byte, error) {
	path := p.path(n)
	b, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s (remove the file, or use another folder)", ErrCorrupt, path, fmt.Sprintf(format, a...))
	}
	if len(b) < len(magic)+2 || string(b[:len(magic)]) != magic {
		return nil, bad("not a key pool file")
	}
	if v := binary.BigEndian.Uint16(b[len(magic):]); v != FormatVersion {
		return nil, bad("format version %d, this program reads version %d", v, FormatVersion)
	}
	if len(b) < sha256.Size {
		return nil, bad("truncated")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if h := sha256.Sum256(body); !bytes.Equal(h[:], sum) {
		return nil, bad("checksum mismatch: truncated or altered")
	}
	r := reader{b: body[len(magic)+2:]}
	kind := Kind(r.bytes(int(r.uint8())))
	num, count := r.uint32(), r.uint32()
	if r.err != nil {
		return nil, bad("truncated header")
	}
	if kind != p.cfg.Kind {
		return nil, bad("holds %q keys, want %q", kind, p.cfg.Kind)
	}
	if int(num) != n {
		return nil, bad("is file number %d, want %d", num, n)
	}
	if int(count) != p.cfg.keysPerFile {
		return nil, bad("holds %d keys, want %d", count, p.cfg.keysPerFile)
	}
	ders := make([][]byte, count)
	for i := range ders {
		ders[i] = r.bytes(int(r.uint32()))
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, bad("malformed key records")
	}
	return ders, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keypool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keypool: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%w: %s: not a regular file of at most %d bytes", ErrCorrupt, path, maxFileSize)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("keypool: %s: %w", path, err)
	}
	return b, nil
}

// reader consumes big-endian fields, remembering the first overrun.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = errors.New("short")
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) uint8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// encodeFile is cache file n holding ders.
func encodeFile(kind Kind, n int, ders [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write(binary.BigEndian.AppendUint16(nil, FormatVersion))
	b.WriteByte(byte(len(kind)))
	b.WriteString(string(kind))
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
	b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(ders))))
	for _, d := range ders {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(d))))
		b.Write(d)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// writeFile puts cache file n in place unless one is there already: it is
// written under a temporary name and hard-linked to its own, which fails
// if another pool (in this process or another) got there first. Theirs
// then stands, and is what every reader sees.
func (p *Pool) writeFile(n int, ders [][]byte) error {
	tmp, err := os.CreateTemp(p.cfg.Dir, ".keys-*.tmp")
	if err != nil {
		return fmt.Errorf("keypool: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(encodeFile(p.cfg.Kind, n, ders)); err != nil {
		tmp.Close()
		return fmt.Errorf("keypool: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keypool: %w", err)
	}
	err = os.Link(tmp.Name(), p.path(n))
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
		return nil
	case errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission):
		// A file system without hard links: rename, which may replace
		// a file another process wrote meanwhile.
		if err := os.Rename(tmp.Name(), p.path(n)); err != nil {
			return fmt.Errorf("keypool: %w", err)
		}
		return nil
	}
	return fmt.Errorf("keypool: %w", err)
}

// generate makes the keys of the missing files, one key per job so that
// even one file's keys are spread over every worker, and writes each file
// as its last key is done. Files are then read back: another pool may
// have written one first.
func (p *Pool) generate(ctx context.Context, missing []int) error {
	per := p.cfg.keysPerFile
	type job struct{ file, key int }
	// A file's keys are held from its first job to its writing: the
	// feeder hands out jobs file by file, so about Workers files at once.
	ders := make([][][]byte, len(missing))
	left := make([]atomic.Int32, len(missing))
	for i := range missing {
		left[i].Store(int32(per))
	}
	jobs := make(chan job)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range min(p.cfg.Workers, len(missing)*per) {
		wg.Go(func() {
			for j := range jobs {
				key, err := newKey(p.cfg.Kind)
				var der []byte
				if err == nil {
					der, err = x509.MarshalPKCS8PrivateKey(key)
				}
				if err == nil {
					ders[j.file][j.key] = der
					if left[j.file].Add(-1) == 0 {
						err = p.writeFile(missing[j.file], ders[j.file])
						ders[j.file] = nil
					}
				}
				if err != nil {
					cancel(fmt.Errorf("keypool: generate: %w", err))
				}
			}
		})
	}
feed:
	for i := range missing {
		ders[i] = make([][]byte, per) // before its jobs are sent
		for k := range per {
			select {
			case jobs <- job{i, k}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	for _, n := range missing {
		if _, err := p.readFile(n); err != nil {
			return err
		}
	}
	p.generated = len(missing) * per
	return nil
}

// parseKey parses one PKCS#8 key and checks it is of kind k.
func parseKey(k Kind, der []byte) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	switch key := key.(type) {
	case *rsa.PrivateKey:
		if k == RSA2048 && key.N.BitLen() == 2048 {
			return key, nil
		}
	case *ecdsa.PrivateKey:
		if k == P256 && key.Curve == elliptic.P256() {
			return key, nil
		}
	}
	return nil, fmt.Errorf("a %T, not a %s key", key, k)
}
