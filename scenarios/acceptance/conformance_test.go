package acceptance_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mdmsim/mdmsim/internal/pki"
	"github.com/mdmsim/mdmsim/internal/stock"
	"github.com/mdmsim/mdmsim/scenarios"
	_ "github.com/mdmsim/mdmsim/scenarios/specs"
	"github.com/mdmsim/mdmsim/scenarios/targets/nanomdm"
)

// TestStockConformance: the stock NanoMDM, through the nanomdm target,
// passes every conformance spec its capabilities allow (it has a command
// channel; it has no update policy of its own, so those specs are
// skipped, each with the reason). One server serves every spec; each
// spec's world listens on the proxy address the server pushes through.
func TestStockConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the stock servers; skipped with -short")
	}
	proxy := freeAddr(t)
	caDir := filepath.Join(t.TempDir(), "ca")
	if _, err := pki.LoadOrCreateCA(caDir, "mdmsim mock Apple services CA"); err != nil {
		t.Fatal(err)
	}
	srv, err := stock.Start(t.Context(), stock.Options{CAKeySize: 2048,
		NanoMDMEnv: []string{"HTTPS_PROXY=http://" + proxy, "SSL_CERT_FILE=" + filepath.Join(caDir, "ca.pem")}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	open := func(ctx context.Context, w *scenarios.World) (scenarios.Target, error) {
		return nanomdm.New(ctx, w, nanomdm.Config{Name: "stock-nanomdm", APIURL: srv.NanoMDMURL + "/v1", APIKey: srv.APIKey,
			Profile: srv.Profile, UploadPushCert: true})
	}
	ok := scenarios.Run(t, open, scenarios.SuiteOptions{ProxyAddr: proxy, CADir: caDir, Speed: 3600, LabelFilter: "!slow"})
	sum := scenarios.Summarize(scenarios.LastReport())
	t.Logf("stock NanoMDM: %d passed, %d failed, %d skipped", sum.Passed, sum.Failed, sum.Skipped)
	for _, s := range sum.Skips {
		t.Logf("skipped: %s", s)
	}
	if !ok || sum.Failed > 0 || sum.Passed == 0 {
		t.Errorf("the stock NanoMDM fails specs its capabilities allow: %v", sum.Failures)
	}
}
