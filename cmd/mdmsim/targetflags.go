package main

import (
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/mdmsim/mdmsim/scenarios"
	"github.com/mdmsim/mdmsim/scenarios/jobs"
	"github.com/mdmsim/mdmsim/scenarios/targets"
)

// targetFlags are the flags of every verb that talks to a target: which
// one, and where Apple's mocks meet a server outside the process.
type targetFlags struct {
	target    string
	apnsProxy string
	gdmfAddr  string
	caDir     string
}

// addTargetFlags declares the target flags on fs, def being the default
// target.
func addTargetFlags(fs *pflag.FlagSet, def string) *targetFlags {
	f := &targetFlags{}
	fs.StringVar(&f.target, "target", def, "the MDM server: embedded (the in-process reference stack), null, or a target file (YAML, see examples/targets)")
	fs.StringVar(&f.apnsProxy, "apns-proxy", "127.0.0.1:0", "outside targets: where the CONNECT proxy to the mock APNs and GDMF listens (the server's HTTPS_PROXY)")
	fs.StringVar(&f.gdmfAddr, "gdmf-listen", "", "outside targets: where the mock GDMF listens (default: a free port; the proxy also takes gdmf.apple.com to it)")
	fs.StringVar(&f.caDir, "ca-dir", defaultCADir(), "outside targets: where the mock APNs and GDMF keep their CA across runs (the server's SSL_CERT_FILE is ca.pem in it)")
	return f
}

// checkTarget refuses a target that is neither one of the process's nor
// a file that exists, and addresses that are not host:port.
func (f *targetFlags) checkTarget() error {
	if !f.inProcess() {
		st, err := os.Stat(f.target)
		switch {
		case err != nil:
			return usageErrorf("--target must be embedded, null or a target file (YAML, see examples/targets): %v", err)
		case st.IsDir():
			return usageErrorf("--target %s is a directory, not a target file", f.target)
		}
	}
	for name, addr := range map[string]string{"apns-proxy": f.apnsProxy, "gdmf-listen": f.gdmfAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return usageErrorf("--%s must be host:port, have %q", name, addr)
		}
	}
	return nil
}

// inProcess reports whether the target runs in this process.
func (f *targetFlags) inProcess() bool { return targets.InProcess(f.target) }

// jobConfig puts the flags in a job's config.
func (f *targetFlags) jobConfig(cfg *jobs.Config) {
	cfg.Target, cfg.ProxyAddr, cfg.CADir, cfg.GDMFAddr = f.target, f.apnsProxy, f.caDir, f.gdmfAddr
}

// worldConfig puts the flags in a world's config: the proxy and the CA
// only for a server outside the process.
func (f *targetFlags) worldConfig(wc scenarios.WorldConfig) scenarios.WorldConfig {
	if !f.inProcess() {
		wc.ProxyAddr, wc.CADir, wc.GDMFAddr = f.apnsProxy, f.caDir, f.gdmfAddr
	}
	return wc
}

// defaultCADir is where the mocks keep their CA for servers outside the
// process.
func defaultCADir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "mdmsim-apns")
	}
	return filepath.Join(dir, "mdmsim", "apns")
}
