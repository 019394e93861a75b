package stock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// The stock servers and the versions the embedded stack (refmdm) links, so
// that out-of-process behaviour matches in-process behaviour.
const (
	NanoMDMModule     = "github.com/micromdm/nanomdm"
	NanoMDMVersion    = "v0.9.0"
	SCEPServerModule  = "github.com/micromdm/scep/v2"
	SCEPServerVersion = "v2.3.0"
	KMFDDMModule      = "github.com/jessepeterson/kmfddm"
	KMFDDMVersion     = "v0.8.3"
)

// EnvCacheDir names the environment variable that overrides where Build
// keeps the binaries.
const EnvCacheDir = "MDMSIM_STOCK_DIR"

// Binaries holds the absolute paths of the stock server binaries.
type Binaries struct {
	NanoMDM    string
	SCEPServer string
	KMFDDM     string
}

type tool struct {
	name, module, version string
	dst                   *string
}

func (b *Binaries) tools() []tool {
	return []tool{
		{"nanomdm", NanoMDMModule, NanoMDMVersion, &b.NanoMDM},
		{"scepserver", SCEPServerModule, SCEPServerVersion, &b.SCEPServer},
		{"kmfddm", KMFDDMModule, KMFDDMVersion, &b.KMFDDM},
	}
}

// CacheDir returns the folder Build installs into: $MDMSIM_STOCK_DIR, or
// mdmsim/stock under the user's cache directory.
func CacheDir() (string, error) {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("stock: cache dir: %w (set %s)", err, EnvCacheDir)
	}
	return filepath.Join(d, "mdmsim", "stock"), nil
}

var (
	buildMu   sync.Mutex
	buildDone Binaries
)

// Build installs the stock server binaries with `go install
// module/cmd/name@version` into CacheDir()/<module>@<version>/, reusing the
// ones already there. It is safe to call from concurrent tests and from
// concurrent test processes: each build goes to a private temporary folder
// and is renamed into place, so a reader never sees half a binary.
func Build(ctx context.Context) (Binaries, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDone.NanoMDM != "" {
		return buildDone, nil
	}
	root, err := CacheDir()
	if err != nil {
		return Binaries{}, err
	}
	var (
		out  Binaries
		wg   sync.WaitGroup
		errs = make([]error, 3)
	)
	for i, t := range out.tools() {
		wg.Go(func() {
			*t.dst, errs[i] = install(ctx, root, t)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Binaries{}, err
	}
	buildDone = out
	return out, nil
}

func install(ctx context.Context, root string, t tool) (string, error) {
	dir := filepath.Join(root, filepath.FromSlash(t.module+"@"+t.version))
	bin := filepath.Join(dir, t.name+exeSuffix())
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("stock: build %s: %w", t.name, err)
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", fmt.Errorf("stock: build %s: %w", t.name, err)
	}
	defer os.RemoveAll(tmp)

	pkg := t.module + "/cmd/" + t.name + "@" + t.version
	cmd := exec.CommandContext(ctx, goBinary(), "install",
		"-ldflags=-X main.version="+t.version, pkg)
	cmd.Dir = tmp // outside any main module or go.work
	cmd.Env = goEnv(tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("stock: go install %s: %w\n%s", pkg, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, t.name+exeSuffix()), bin); err != nil {
		return "", fmt.Errorf("stock: build %s: %w", t.name, err)
	}
	return bin, nil
}

// goBinary is the go command of the toolchain running this test, so the
// binaries build with the Go the project pins rather than whatever is on
// PATH.
func goBinary() string {
	g := filepath.Join(runtime.GOROOT(), "bin", "go"+exeSuffix())
	if _, err := os.Stat(g); err == nil {
		return g
	}
	return "go"
}

// goEnv is the test's environment without what would change how the stock
// servers build: `go test -race` or GOFLAGS=-mod=vendor in the project
// must not reach a go install of someone else's module, a cross-compiling
// GOOS must not produce a binary that cannot run here, and a go.work must
// not pull the project's modules in.
func goEnv(gobin string) []string {
	drop := []string{"GOFLAGS", "GOOS", "GOARCH", "GOBIN", "GOWORK", "GOTOOLCHAIN",
		"CGO_ENABLED", "GOEXPERIMENT", "GOAMD64", "GOARM", "GOARM64"}
	env := filterEnv(os.Environ(), drop...)
	return append(env, "GOFLAGS=", "GOBIN="+gobin, "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
}

// filterEnv drops the variables named in keys, or starting with a key that
// ends in "_".
func filterEnv(env []string, keys ...string) []string {
	out := make([]string, 0, len(env))
next:
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		for _, d := range keys {
			if k == d || (strings.HasSuffix(d, "_") && strings.HasPrefix(k, d)) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}
