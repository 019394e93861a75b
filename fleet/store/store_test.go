package store_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/mdmsim/mdmsim/fleet"
	"github.com/mdmsim/mdmsim/fleet/store"
	"github.com/mdmsim/mdmsim/simulator"
)

const testSeed = 7

// openFleet opens the store in dir and draws the fleet with it as sink,
// resuming what the file holds.
func openFleet(t *testing.T, dir string, n int) (*store.Store, *fleet.Fleet, int) {
	t.Helper()
	st, err := store.Open(dir, store.Fleet{Seed: testSeed, Devices: n, Target: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleet.New(fleet.Config{Devices: n, Seed: testSeed, Concurrency: 4}, simulator.WithStateSink(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Env().Close() })
	restored, err := st.Resume(f)
	if err != nil {
		t.Fatal(err)
	}
	return st, f, restored
}

func TestResumeKeepsEnrollments(t *testing.T) {
	t.Parallel()
	srv := newServer()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	const n = 12

	st, f, restored := openFleet(t, dir, n)
	if restored != 0 || st.Resuming() {
		t.Fatalf("a new file resumed %d devices", restored)
	}
	enrolled, err := f.Enroll(context.Background(), profileFor(ts.URL), mint(1))
	if err != nil || enrolled != n {
		t.Fatalf("enrolled %d of %d: %v", enrolled, n, err)
	}
	type saved struct {
		token []byte
		magic string
		stats simulator.Stats
	}
	want := map[string]saved{}
	for _, d := range f.Devices() {
		if err := d.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Devices() {
		tok, magic, _ := d.PushToken()
		want[d.UDID()] = saved{tok, magic, d.Stats()}
	}

	st2, f2, restored := openFleet(t, dir, n)
	defer st2.Close()
	if !st2.Resuming() || restored != n {
		t.Fatalf("resumed %d of %d (resuming %v)", restored, n, st2.Resuming())
	}
	if got := f2.Counters().Enrolled.Load(); got != n {
		t.Errorf("fleet counts %d enrolled, want %d", got, n)
	}
	again, err := f2.Enroll(context.Background(), profileFor(ts.URL), mint(2))
	if err != nil || again != 0 {
		t.Errorf("enrolled %d devices again: %v", again, err)
	}
	for _, d := range f2.Devices() {
		tok, magic, ok := d.PushToken()
		w := want[d.UDID()]
		if !ok || string(tok) != string(w.token) || magic != w.magic {
			t.Errorf("%s: push token or magic changed", d.UDID())
		}
		if d.Stats() != w.stats {
			t.Errorf("%s: stats %+v, want %+v", d.UDID(), d.Stats(), w.stats)
		}
		if err := d.Connect(context.Background()); err != nil {
			t.Errorf("%s after resume: %v", d.UDID(), err)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for udid, d := range srv.devices {
		if d.authenticates != 1 || d.idles != 2 || d.badIdles != 0 {
			t.Errorf("%s: %d Authenticate, %d Idle, %d refused; want 1, 2, 0", udid, d.authenticates, d.idles, d.badIdles)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	fl := store.Fleet{Seed: 1, Devices: 3, Target: "null"}
	mk := func(t *testing.T) string {
		dir := t.TempDir()
		st, err := store.Open(dir, fl)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("other fleet", func(t *testing.T) {
		dir := mk(t)
		if st, err := store.Open(dir, store.Fleet{Seed: 1, Devices: 3, Target: "null", Shard: fleet.Shard{Index: 0, Count: 1}}); err != nil {
			t.Errorf("shard 0/1 is the whole fleet: %v", err)
		} else {
			st.Close()
		}
		for _, other := range []store.Fleet{{Seed: 2, Devices: 3, Target: "null"}, {Seed: 1, Devices: 4, Target: "null"}, {Seed: 1, Devices: 3, Target: "x"},
			{Seed: 1, Devices: 3, Target: "null", Shard: fleet.Shard{Index: 1, Count: 2}}} {
			if _, err := store.Open(dir, other); !errors.Is(err, store.ErrMismatch) {
				t.Errorf("%+v: %v, want ErrMismatch", other, err)
			}
		}
	})
	setSchema := func(t *testing.T, dir, v string) {
		t.Helper()
		db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte(v)) }); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("other schema", func(t *testing.T) {
		for _, v := range []string{"0", "3", "", "2x"} {
			dir := mk(t)
			setSchema(t, dir, v)
			if _, err := store.Open(dir, fl); !errors.Is(err, store.ErrSchema) {
				t.Errorf("schema %q: %v, want ErrSchema", v, err)
			}
		}
	})
	t.Run("schema 1 is read and marked 2", func(t *testing.T) {
		dir := mk(t)
		setSchema(t, dir, "1")
		st, err := store.Open(dir, fl)
		if err != nil {
			t.Fatalf("schema 1: %v", err)
		}
		st.Close()
		info, ok, err := store.Peek(dir)
		if err != nil || !ok || info.Schema != store.Schema {
			t.Errorf("after opening a schema 1 file: %+v, %v, %v; want schema %d", info, ok, err, store.Schema)
		}
	})
	t.Run("not a bbolt file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, store.FileName), []byte("this is not a database, just some bytes of text"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Open(dir, fl); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%v, want ErrCorrupt", err)
		}
	})
	t.Run("another bbolt file", func(t *testing.T) {
		dir := t.TempDir()
		db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if _, err := store.Open(dir, fl); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("%v, want ErrCorrupt", err)
		}
	})
	t.Run("in use", func(t *testing.T) {
		dir := mk(t)
		st, err := store.Open(dir, fl)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := store.Open(dir, fl); !errors.Is(err, store.ErrLocked) {
			t.Errorf("%v, want ErrLocked", err)
		}
	})
}

func TestResumeRefusesDamagedRecord(t *testing.T) {
	t.Parallel()
	srv := newServer()
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	st, f, _ := openFleet(t, dir, 2)
	if _, err := f.Enroll(context.Background(), profileFor(ts.URL), mint(1)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := bolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	udid := f.Devices()[0].UDID()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("devices"))
		v := append([]byte(nil), b.Get([]byte(udid))...)
		v[len(v)/2] ^= 0x20
		return b.Put([]byte(udid), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	st2, err := store.Open(dir, store.Fleet{Seed: testSeed, Devices: 2, Target: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	f2, err := fleet.New(fleet.Config{Devices: 2, Seed: testSeed}, simulator.WithStateSink(st2))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Env().Close()
	if _, err := st2.Resume(f2); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("%v, want ErrCorrupt", err)
	}
}
