package stock

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/mdmsim/mdmsim/mockapns"
)

// Options tune Start. The zero value starts SCEP and NanoMDM without DDM,
// building the binaries if needed.
type Options struct {
	// Binaries to run; zero means Build(ctx).
	Binaries Binaries
	// NanoMDMEnv is added to NanoMDM's environment ("KEY=VALUE"), e.g.
	// HTTPS_PROXY and SSL_CERT_FILE so its pushes reach a mock APNs proxy.
	NanoMDMEnv []string
	// WebhookURL, when set, is NanoMDM's -webhook-url.
	WebhookURL string
	// DDM starts KMFDDM and points NanoMDM's -dm at it.
	DDM bool
	// Output receives the processes' output, each line prefixed with
	// "[name] ". The output is also kept (its tail) for error messages.
	Output io.Writer
	// LogFiles sends each server's output to a file of its own (in the
	// servers' temporary folder) instead of through a pipe to this
	// process, and Output gets only the command lines: for a benchmark
	// that reads this process's CPU time, which must not include copying
	// the servers' logs. Error messages and Servers.Output still show
	// the output's tail, read back from the file.
	LogFiles bool
	// Debug passes -debug to the servers.
	Debug bool
	// APIKey, Challenge and Topic default to random values; Topic to
	// com.apple.mgmt.External.<uuid>.
	APIKey, Challenge, Topic string
	// CAKeySize is the SCEP CA's RSA key size; 0 keeps scepserver's
	// default (4096).
	CAKeySize int
	// NanoMDMCA, when set, is the CA file NanoMDM trusts (-ca) instead of
	// the SCEP CA: a server that refuses the devices' identities.
	NanoMDMCA string
}

// Servers are running stock servers. All URLs are http://127.0.0.1:port.
type Servers struct {
	// MDMURL is NanoMDM's MDM endpoint (.../mdm), the profile's ServerURL
	// and CheckInURL.
	MDMURL string
	// SCEPURL is scepserver's endpoint (.../scep).
	SCEPURL string
	// NanoMDMURL is NanoMDM's base: GET /version, its API under /v1/
	// (basic auth user "nanomdm", password APIKey).
	NanoMDMURL string
	// KMFDDMURL is KMFDDM's base, its API under /v1/ (basic auth user
	// "kmfddm", password APIKey); "" unless Options.DDM.
	KMFDDMURL string
	// APIKey is the API password of NanoMDM and KMFDDM.
	APIKey string
	// Challenge is the SCEP challenge the profile carries.
	Challenge string
	// Topic is the push topic of the profile; the push certificate
	// uploaded to NanoMDM must carry it.
	Topic string
	// CACertPEM is the SCEP CA, which issues device identities and which
	// NanoMDM trusts (-ca).
	CACertPEM []byte
	// Profile is the unsigned enrollment profile (plist).
	Profile []byte
	// Binaries are the binaries running.
	Binaries Binaries

	dir      string
	mu       sync.Mutex
	procs    []*process // in start order
	cmdLines []string
	stopped  bool
}

// Start runs scepserver, NanoMDM and, with opts.DDM, KMFDDM on free
// 127.0.0.1 ports and returns once each answers. ctx bounds the servers'
// lifetime as well as the start: when it ends they are stopped (give it
// t.Context()); call Stop to stop them and remove their files.
func Start(ctx context.Context, opts Options) (_ *Servers, err error) {
	bins := opts.Binaries
	if bins == (Binaries{}) {
		if bins, err = Build(ctx); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "mdmsim-stock-")
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	s := &Servers{
		APIKey: opts.APIKey, Challenge: opts.Challenge, Topic: opts.Topic,
		Binaries: bins, dir: dir,
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.APIKey == "" {
		s.APIKey = randomToken(16)
	}
	if s.Challenge == "" {
		s.Challenge = randomToken(16)
	}
	if s.Topic == "" {
		s.Topic = "com.apple.mgmt.External." + strings.ToLower(newUUID())
	}
	env := filterEnv(os.Environ(), "SCEP_", "NANOMDM_", "KMFDDM_")

	// The SCEP CA.
	depot := filepath.Join(dir, "depot")
	caArgs := []string{"ca", "-init", "-depot", depot}
	if opts.CAKeySize > 0 {
		caArgs = append(caArgs, "-keySize", strconv.Itoa(opts.CAKeySize))
	}
	s.cmdLines = append(s.cmdLines, cmdLine(bins.SCEPServer, caArgs))
	if opts.Output != nil {
		fmt.Fprintf(&prefixWriter{w: opts.Output, prefix: "[stock] "}, "%s\n", s.cmdLines[0])
	}
	ca := exec.CommandContext(ctx, bins.SCEPServer, caArgs...)
	ca.Env, ca.SysProcAttr = env, sysProcAttr()
	if out, err := ca.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("stock: scepserver ca -init: %w\n%s", err, out)
	}
	if s.CACertPEM, err = os.ReadFile(filepath.Join(depot, "ca.pem")); err != nil {
		return nil, fmt.Errorf("stock: SCEP CA: %w", err)
	}

	err = s.launch(ctx, opts, func(addr map[string]string) ([]*process, error) {
		args := []string{"-depot", depot, "-http-addr", addr["scepserver"],
			"-challenge", s.Challenge, "-allowrenew", "0"}
		if opts.Debug {
			args = append(args, "-debug")
		}
		p, err := s.start(ctx, opts, "scepserver", bins.SCEPServer, args, env)
		if err != nil {
			return nil, err
		}
		s.SCEPURL = "http://" + addr["scepserver"] + "/scep"
		return []*process{p}, waitHTTP(ctx, p, s.SCEPURL+"?operation=GetCACert")
	}, "scepserver")
	if err != nil {
		return nil, err
	}

	// NanoMDM and KMFDDM name each other, so they take their ports
	// together and start again together if one port was taken.
	names := []string{"nanomdm"}
	if opts.DDM {
		names = append(names, "kmfddm")
	}
	err = s.launch(ctx, opts, func(addr map[string]string) ([]*process, error) {
		ca := filepath.Join(depot, "ca.pem")
		if opts.NanoMDMCA != "" {
			ca = opts.NanoMDMCA
		}
		return s.startMDM(ctx, opts, addr, ca, env)
	}, names...)
	if err != nil {
		return nil, err
	}

	s.Profile, err = enrollmentProfile(profileParams{
		SCEPURL: s.SCEPURL, Challenge: s.Challenge, MDMURL: s.MDMURL, Topic: s.Topic,
		ProfileUUID: newUUID(), SCEPUUID: newUUID(), MDMUUID: newUUID(),
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Servers) startMDM(ctx context.Context, opts Options, addr map[string]string, caPath string, env []string) ([]*process, error) {
	s.NanoMDMURL = "http://" + addr["nanomdm"]
	s.MDMURL = s.NanoMDMURL + "/mdm"
	// NanoMDM wants one -storage-dsn per -storage, even an empty one
	// ("must have same number of storage and DSN flags").
	args := []string{"-storage", "inmem", "-storage-dsn", "", "-ca", caPath, "-api", s.APIKey, "-listen", addr["nanomdm"]}
	if opts.WebhookURL != "" {
		args = append(args, "-webhook-url", opts.WebhookURL)
	}
	if opts.DDM {
		s.KMFDDMURL = "http://" + addr["kmfddm"]
		// The trailing slash matters: NanoMDM resolves the device's
		// Endpoint ("tokens", "declaration-items", "declaration/…",
		// "status") against this URL, and KMFDDM serves them at its root.
		args = append(args, "-dm", s.KMFDDMURL+"/")
	}
	if opts.Debug {
		args = append(args, "-debug")
	}
	var procs []*process
	p, err := s.start(ctx, opts, "nanomdm", s.Binaries.NanoMDM, args, append(env[:len(env):len(env)], opts.NanoMDMEnv...))
	if err != nil {
		return nil, err
	}
	procs = append(procs, p)
	if opts.DDM {
		args := []string{"-storage", "inmem", "-api", s.APIKey, "-listen", addr["kmfddm"],
			"-enqueue", s.NanoMDMURL + "/v1/enqueue/", "-enqueue-key", s.APIKey}
		if opts.Debug {
			args = append(args, "-debug")
		}
		k, err := s.start(ctx, opts, "kmfddm", s.Binaries.KMFDDM, args, env)
		if err != nil {
			return procs, err
		}
		procs = append(procs, k)
		if err := waitHTTP(ctx, k, s.KMFDDMURL+"/version"); err != nil {
			return procs, err
		}
	}
	return procs, waitHTTP(ctx, p, s.NanoMDMURL+"/version")
}

// launch picks a free address for each name and calls run, starting over
// (at most a few times) when a process died because its port was taken
// between our probe and its bind.
func (s *Servers) launch(ctx context.Context, opts Options, run func(map[string]string) ([]*process, error), names ...string) error {
	var err error
	for range 3 {
		addr := map[string]string{}
		for _, n := range names {
			if addr[n], err = freeAddr(); err != nil {
				return err
			}
		}
		var procs []*process
		procs, err = run(addr)
		if err == nil {
			return nil
		}
		retry := false
		for _, p := range procs {
			if p.exited() && addrInUse(errors.New(p.output())) {
				retry = true
			}
		}
		s.forget(procs)
		if !retry || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (s *Servers) start(ctx context.Context, opts Options, name, bin string, args, env []string) (*process, error) {
	line := cmdLine(bin, args)
	s.mu.Lock()
	s.cmdLines = append(s.cmdLines, line)
	n := len(s.cmdLines)
	s.mu.Unlock()
	if opts.Output != nil {
		fmt.Fprintf(&prefixWriter{w: opts.Output, prefix: "[stock] "}, "%s\n", line)
	}
	logFile := ""
	if opts.LogFiles {
		logFile = filepath.Join(s.dir, fmt.Sprintf("%s-%d.log", name, n))
	}
	p, err := startProcess(ctx, name, bin, args, env, opts.Output, logFile)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = append(s.procs, p)
	return p, nil
}

// forget stops procs and drops them from s.
func (s *Servers) forget(procs []*process) {
	for _, p := range procs {
		p.stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.procs[:0]
	for _, q := range s.procs {
		if !contains(procs, q) {
			kept = append(kept, q)
		}
	}
	s.procs = kept
}

func contains(ps []*process, p *process) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Stop stops every server (SIGTERM, then SIGKILL after a grace period),
// waits for them to exit and removes their files. It may be called more
// than once.
func (s *Servers) Stop() {
	s.mu.Lock()
	procs := append([]*process(nil), s.procs...)
	first := !s.stopped
	s.stopped = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stop)
	}
	wg.Wait()
	if first {
		_ = os.RemoveAll(s.dir)
	}
}

// Close is Stop, for io.Closer and t.Cleanup(func() { s.Close() }).
func (s *Servers) Close() error {
	s.Stop()
	return nil
}

// StopNanoMDM stops only NanoMDM, for tests of a device facing a server
// that went away. SCEP and KMFDDM keep running.
func (s *Servers) StopNanoMDM() {
	if p := s.proc("nanomdm"); p != nil {
		p.stop()
	}
}

func (s *Servers) proc(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// PIDs returns the process ID of each server by name ("scepserver",
// "nanomdm", "kmfddm"), running or not.
func (s *Servers) PIDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, p := range s.procs {
		m[p.name] = p.pid()
	}
	return m
}

// CommandLines returns the command lines Start ran, in order.
func (s *Servers) CommandLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmdLines...)
}

// Output returns the tail of a server's output ("" for an unknown name).
func (s *Servers) Output(name string) string {
	if p := s.proc(name); p != nil {
		return p.output()
	}
	return ""
}

// UploadPushCert sends cert (e.g. from mockapns.NewPushCertificate with
// Topic) to NanoMDM: PUT /v1/pushcert with the PEM certificate and key.
func (s *Servers) UploadPushCert(ctx context.Context, cert tls.Certificate) error {
	certPEM, keyPEM, err := mockapns.PushCertificatePEM(cert)
	if err != nil {
		return fmt.Errorf("stock: push cert: %w", err)
	}
	body := append(append([]byte{}, certPEM...), keyPEM...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.NanoMDMURL+"/v1/pushcert", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("stock: push cert: %w", err)
	}
	req.SetBasicAuth("nanomdm", s.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("stock: push cert: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stock: push cert: PUT /v1/pushcert: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

func cmdLine(bin string, args []string) string {
	parts := []string{filepath.Base(bin)}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
