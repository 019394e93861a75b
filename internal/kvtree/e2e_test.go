package kvtree_test

import (
	"context"
	"hash"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	kmfkv "github.com/jessepeterson/kmfddm/storage/kv"
	kmfe2e "github.com/jessepeterson/kmfddm/test/e2e"
	nanokv "github.com/micromdm/nanomdm/storage/kv"
	nanoe2e "github.com/micromdm/nanomdm/test/e2e"

	"github.com/mdmsim/mdmsim/internal/kvtree"
)

// NanoMDM's and KMFDDM's own storage suites, run on their kv storages
// built over kvtree as refmdm builds them.
func TestNanoMDME2E(t *testing.T) {
	inModuleLayout(t, "github.com/micromdm/nanomdm", "test/e2e/testdata", "mdm/testdata")
	s := kvtree.New
	nanoe2e.TestE2E(t, context.Background(), nanokv.New(s(), s(), s(), s(), s(), s()))
}

func TestKMFDDME2E(t *testing.T) {
	inModuleLayout(t, "github.com/jessepeterson/kmfddm", "test/e2e/testdata")
	s := kvtree.New
	kmfe2e.TestE2E(t, context.Background(), kmfkv.New(func() hash.Hash { return fnv.New128() }, s(), s(), s(), s()))
}

// inModuleLayout changes into a directory laid out as the module's
// storage/<backend>, with the module's testdata dirs linked in: the suites
// read their fixtures by paths relative to that.
func inModuleLayout(t *testing.T, module string, testdata ...string) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		t.Skipf("locating %s: %v", module, err)
	}
	dir, root := strings.TrimSpace(string(out)), t.TempDir()
	for _, td := range testdata {
		link := filepath.Join(root, td)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(dir, td), link); err != nil {
			t.Fatal(err)
		}
	}
	wd := filepath.Join(root, "storage", "kvtree")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
}
