package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mdmsim/mdmsim/clock"
	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/simulator"
)

// Schema is the version of the encoding this package writes. It reads
// files of oldestSchema too: schema 2 added the update in progress to a
// device's record, so a schema 1 record is a schema 2 record without one,
// and Open marks such a file schema 2 before it writes to it.
const Schema = 2

const oldestSchema = 1

// FileName is the state file in a state directory.
const FileName = "state.db"

// format names the file's kind in its meta bucket.
const format = "mdmsim-state"

// Errors of a store.
var (
	// ErrSchema is a file written by another schema version.
	ErrSchema = errors.New("store: state file of another schema version")
	// ErrCorrupt is a file that is not a state file, or a damaged one.
	ErrCorrupt = errors.New("store: state file is corrupt")
	// ErrMismatch is a file of another fleet (seed, size or target).
	ErrMismatch = errors.New("store: state file is of another fleet")
	// ErrLocked is a file another process has open.
	ErrLocked = errors.New("store: state file is in use by another process")
	// ErrClosed is a store used after Close.
	ErrClosed = errors.New("store: closed")
)

var (
	bucketMeta     = []byte("meta")
	bucketProfiles = []byte("profiles")
	// bucketDeclarations holds each distinct DDM declaration once, by
	// the hash of its encoding (schema 2).
	bucketDeclarations = []byte("declarations")
	bucketDevices      = []byte("devices")
	keyFormat          = []byte("format")
	keySchema          = []byte("schema")
	keyFleet           = []byte("fleet")
	keyTime            = []byte("virtual_time")
)

// Fleet is what a fleet was drawn from and where it enrolled: a resumed
// run must give the same.
type Fleet struct {
	Seed    int64  `json:"seed"`
	Devices int    `json:"devices"`
	Target  string `json:"target"`
	// Shard is the slice of the fleet the process runs (zero: all of it).
	Shard fleet.Shard `json:"shard"`
}

// initialMmap is the initial memory map of the file: address space, not
// memory.
const initialMmap = 256 << 20

// lockTimeout is how long Open waits for another process's lock on the
// file before it says the file is in use (wall time: it is I/O).
const lockTimeout = time.Second

// Store is a fleet's state file. It is a simulator.StateSink: give it to
// the fleet's Env with simulator.WithStateSink.
type Store struct {
	db       *bolt.DB
	path     string
	fleet    Fleet
	resuming bool
	vtime    time.Time

	mu      sync.Mutex
	cond    sync.Cond
	dirty   map[*simulator.Device]struct{}
	started uint64 // batches taken
	done    uint64 // batches committed (or failed)
	err     error  // the first write error: every later wait returns it
	closing bool
	now     func() time.Time
	stopped chan struct{}

	// Writer's own: the keys of the profiles and declarations already in
	// the file, for as long as devices share them.
	profiles keyCache[simulator.ProfileState]
	decls    keyCache[simulator.SavedDeclaration]
	// Batches counts committed transactions (for tests and reports).
	batches uint64
}

// Open opens the state file in dir, creating dir and the file when there
// is none. An existing file must be of this Schema and of fl: otherwise
// Open fails with ErrSchema, ErrMismatch or ErrCorrupt, and the file is
// left as it was.
func Open(dir string, fl Fleet) (s *Store, err error) {
	if dir == "" {
		return nil, errors.New("store: no directory")
	}
	if !fl.Shard.Sharded() {
		fl.Shard = fleet.Shard{} // 0/1 is the whole fleet too
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	exists := statErr == nil
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout,
		// Write-heavy: the freelist is rebuilt on open instead of written
		// by every commit (it is not needed for durability), and a map
		// keeps it. The initial mapping spares remapping, which stops
		// every reader and writer, while a fleet's file grows.
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType, InitialMmapSize: initialMmap})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	s = &Store{db: db, path: path, fleet: fl, dirty: map[*simulator.Device]struct{}{},
		stopped: make(chan struct{})}
	s.cond.L = &s.mu
	defer func() {
		if err != nil {
			db.Close()
			s = nil
		}
	}()
	if exists {
		if err = s.checkMeta(); err != nil {
			return nil, err
		}
		if err = s.db.Update(func(tx *bolt.Tx) error {
			m, v := tx.Bucket(bucketMeta), []byte(strconv.Itoa(Schema))
			if string(m.Get(keySchema)) == string(v) {
				return nil
			}
			// An older schema this one reads.
			if _, err := tx.CreateBucketIfNotExists(bucketDeclarations); err != nil {
				return err
			}
			return m.Put(keySchema, v)
		}); err != nil {
			return nil, fmt.Errorf("store: %s: %w", path, err)
		}
	} else if err = s.writeMeta(); err != nil {
		return nil, err
	}
	go s.writer()
	return s, nil
}

func (s *Store) writeMeta() error {
	fl, _ := json.Marshal(s.fleet)
	return s.db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketProfiles, bucketDeclarations, bucketDevices} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := m.Put(keyFormat, []byte(format)); err != nil {
			return err
		}
		if err := m.Put(keySchema, []byte(strconv.Itoa(Schema))); err != nil {
			return err
		}
		return m.Put(keyFleet, fl)
	})
}

// checkMeta checks an existing file is ours, of this schema and fleet.
func (s *Store) checkMeta() (err error) {
	defer recoverCorrupt(&err)
	return s.db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil || string(m.Get(keyFormat)) != format {
			return fmt.Errorf("%w: %s is not an mdmsim state file", ErrCorrupt, s.path)
		}
		if tx.Bucket(bucketProfiles) == nil || tx.Bucket(bucketDevices) == nil {
			return fmt.Errorf("%w: %s lacks its buckets", ErrCorrupt, s.path)
		}
		if _, err := readSchema(m, s.path); err != nil {
			return err
		}
		var have Fleet
		if err := json.Unmarshal(m.Get(keyFleet), &have); err != nil {
			return fmt.Errorf("%w: %s: fleet: %v", ErrCorrupt, s.path, err)
		}
		if have != s.fleet {
			return fmt.Errorf("%w: %s holds seed %d, %d devices, target %q, shard %s; this run has seed %d, %d devices, target %q, shard %s",
				ErrMismatch, s.path, have.Seed, have.Devices, have.Target, have.Shard,
				s.fleet.Seed, s.fleet.Devices, s.fleet.Target, s.fleet.Shard)
		}
		if v := m.Get(keyTime); v != nil {
			if err := s.vtime.UnmarshalText(v); err != nil {
				return fmt.Errorf("%w: %s: virtual time: %v", ErrCorrupt, s.path, err)
			}
		}
		s.resuming = tx.Bucket(bucketDevices).Stats().KeyN > 0
		return nil
	})
}

// recoverCorrupt turns a panic of bbolt reading a damaged page into
// ErrCorrupt.
func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %v", ErrCorrupt, r)
	}
}

// Resuming reports whether the file holds devices of an earlier run.
func (s *Store) Resuming() bool { return s.resuming }

// VirtualTime is the virtual time of the last commit of an earlier run
// (zero when none was saved): a resumed world's clock starts there.
func (s *Store) VirtualTime() time.Time { return s.vtime }

// SetClock makes every commit save c's time, read back by VirtualTime.
func (s *Store) SetClock(c clock.Clock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = c.Now
}

// Resume puts every saved device back on f's device of the same UDID (f
// drawn from the same seed, with this store as its state sink, and not
// enrolled yet). It returns how many came back enrolled, and adds them to
// the fleet's Enrolled counter, so a report counts every device once.
func (s *Store) Resume(f *fleet.Fleet) (enrolled int, err error) {
	defer recoverCorrupt(&err)
	err = s.db.View(func(tx *bolt.Tx) error {
		profiles := map[string]*simulator.ProfileState{}
		err := tx.Bucket(bucketProfiles).ForEach(func(k, v []byte) error {
			payload, err := unseal(v)
			if err != nil {
				return fmt.Errorf("profile %s: %w", k, err)
			}
			var p simulator.ProfileState
			if err := json.Unmarshal(payload, &p); err != nil {
				return fmt.Errorf("%w: profile %s: %v", ErrCorrupt, k, err)
			}
			profiles[string(k)] = &p
			return nil
		})
		if err != nil {
			return err
		}
		decls := map[string]*simulator.SavedDeclaration{}
		if b := tx.Bucket(bucketDeclarations); b != nil {
			err := b.ForEach(func(k, v []byte) error {
				payload, err := unseal(v)
				if err != nil {
					return fmt.Errorf("declaration %s: %w", k, err)
				}
				var sd simulator.SavedDeclaration
				if err := json.Unmarshal(payload, &sd); err != nil {
					return fmt.Errorf("%w: declaration %s: %v", ErrCorrupt, k, err)
				}
				decls[string(k)] = &sd
				return nil
			})
			if err != nil {
				return err
			}
		}
		return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
			st, err := decodeDevice(v, profiles, decls)
			if err != nil {
				return fmt.Errorf("device %s: %w", k, err)
			}
			if st.Identity.UDID != string(k) {
				return fmt.Errorf("%w: device %s holds %s", ErrCorrupt, k, st.Identity.UDID)
			}
			d, ok := f.Device(string(k))
			if !ok {
				return fmt.Errorf("%w: device %s is not in this fleet", ErrMismatch, k)
			}
			if err := d.Restore(st); err != nil {
				return fmt.Errorf("%w: %v", ErrMismatch, err)
			}
			if st.Enrollment != nil {
				enrolled++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: resume from %s: %w", s.path, err)
	}
	// The restored enrollments count once, as if they had just happened.
	f.Counters().Enrolled.Add(int64(enrolled))
	return enrolled, nil
}

// Changed marks d for the next batch (simulator.StateSink).
func (s *Store) Changed(d *simulator.Device) {
	s.mu.Lock()
	if !s.closing {
		s.dirty[d] = struct{}{}
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// Enrolled marks d and waits for the batch that carries it to commit
// (simulator.StateSink).
func (s *Store) Enrolled(d *simulator.Device) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	s.dirty[d] = struct{}{}
	want := s.started + 1
	s.cond.Broadcast()
	for s.done < want && s.err == nil {
		s.cond.Wait()
	}
	return s.err
}

// Flush writes every device marked so far and waits for the commit.
func (s *Store) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dirty) == 0 {
		// Wait for a batch in flight, if any.
		for s.done < s.started && s.err == nil {
			s.cond.Wait()
		}
		return s.err
	}
	want := s.started + 1
	s.cond.Broadcast()
	for s.done < want && s.err == nil {
		s.cond.Wait()
	}
	return s.err
}

// Err returns the first write error, if any.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Batches counts the transactions committed so far.
func (s *Store) Batches() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// Close writes what is marked, stops the writer and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closing = true
	s.cond.Broadcast()
	s.mu.Unlock()
	<-s.stopped
	werr := s.Err()
	return errors.Join(werr, s.db.Close())
}

// writer commits the marked devices, one transaction per batch, while
// there are any.
func (s *Store) writer() {
	defer close(s.stopped)
	for {
		s.mu.Lock()
		for len(s.dirty) == 0 && !s.closing {
			s.cond.Wait()
		}
		if len(s.dirty) == 0 {
			s.mu.Unlock()
			return
		}
		batch := s.dirty
		s.dirty = make(map[*simulator.Device]struct{}, len(batch))
		s.started++
		seq, now := s.started, s.now
		s.mu.Unlock()

		err := s.write(batch, now)

		s.mu.Lock()
		s.done = seq
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("store: writing %s: %w", s.path, err)
		}
		if err == nil {
			s.batches++
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

type kv struct{ k, v []byte }

func (s *Store) write(batch map[*simulator.Device]struct{}, now func() time.Time) error {
	devs := make([]kv, 0, len(batch))
	var profs, decls []kv
	for d := range batch {
		st, err := d.State()
		if err != nil {
			return err
		}
		v, err := encodeDevice(st, func(p *simulator.ProfileState) (string, error) {
			if k, ok := s.profiles.get(p); ok {
				return k, nil
			}
			b, k, err := encodeProfile(p)
			if err != nil {
				return "", err
			}
			s.profiles.put(p, k)
			profs = append(profs, kv{[]byte(k), seal(b)})
			return k, nil
		}, func(sd *simulator.SavedDeclaration) (string, error) {
			if k, ok := s.decls.get(sd); ok {
				return k, nil
			}
			b, k, err := encodeDeclaration(sd)
			if err != nil {
				return "", err
			}
			s.decls.put(sd, k)
			decls = append(decls, kv{[]byte(k), seal(b)})
			return k, nil
		})
		if err != nil {
			return err
		}
		devs = append(devs, kv{[]byte(st.Identity.UDID), v})
	}
	// bbolt writes sorted keys fastest.
	slices.SortFunc(devs, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	err := s.db.Update(func(tx *bolt.Tx) error {
		pb := tx.Bucket(bucketProfiles)
		for _, p := range profs {
			if err := pb.Put(p.k, p.v); err != nil {
				return err
			}
		}
		xb := tx.Bucket(bucketDeclarations)
		for _, x := range decls {
			if err := xb.Put(x.k, x.v); err != nil {
				return err
			}
		}
		db := tx.Bucket(bucketDevices)
		for _, d := range devs {
			if err := db.Put(d.k, d.v); err != nil {
				return err
			}
		}
		if now != nil {
			t, err := now().MarshalText()
			if err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(keyTime, t)
		}
		return nil
	})
	if err != nil {
		// The profiles and declarations written in this batch are not in
		// the file.
		for _, x := range decls {
			s.decls.forget(string(x.k))
		}
		for _, p := range profs {
			s.profiles.forget(string(p.k))
		}
	}
	return err
}

// Info is what a state file says of its fleet, read without resuming it.
type Info struct {
	Fleet Fleet
	// VirtualTime is the virtual time of the last commit; zero if none
	// was saved.
	VirtualTime time.Time
	// Devices counts the devices stored.
	Devices int
	// Schema is the file's schema version (Open marks an older one this
	// package reads as Schema).
	Schema int
}

// readSchema returns the schema version of a file's meta bucket, or
// ErrSchema if this package cannot read it.
func readSchema(m *bolt.Bucket, path string) (int, error) {
	v, err := strconv.Atoi(string(m.Get(keySchema)))
	if err != nil || v < oldestSchema || v > Schema {
		return 0, fmt.Errorf("%w: %s is schema %q, this mdmsim reads schemas %d to %d", ErrSchema, path,
			m.Get(keySchema), oldestSchema, Schema)
	}
	return v, nil
}

// Peek reads what the state file in dir holds: ok is false when there is
// none. A file that is not a state file of a schema this package reads is
// an error, as in Open. It is how a caller starts a resumed world's clock where the saved
// run left it, before it opens the store.
func Peek(dir string) (info Info, ok bool, err error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return Info{}, false, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: true})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return Info{}, false, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return Info{}, false, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	defer db.Close()
	defer recoverCorrupt(&err)
	err = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil || string(m.Get(keyFormat)) != format || tx.Bucket(bucketDevices) == nil {
			return fmt.Errorf("%w: %s is not an mdmsim state file", ErrCorrupt, path)
		}
		if info.Schema, err = readSchema(m, path); err != nil {
			return err
		}
		if err := json.Unmarshal(m.Get(keyFleet), &info.Fleet); err != nil {
			return fmt.Errorf("%w: %s: fleet: %v", ErrCorrupt, path, err)
		}
		if v := m.Get(keyTime); v != nil {
			if err := info.VirtualTime.UnmarshalText(v); err != nil {
				return fmt.Errorf("%w: %s: virtual time: %v", ErrCorrupt, path, err)
			}
		}
		info.Devices = tx.Bucket(bucketDevices).Stats().KeyN
		return nil
	})
	return info, err == nil, err
}
