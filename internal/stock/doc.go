// Package stock runs the stock, unmodified open-source MDM servers as
// processes of their own, for tests that check mdmsim against the real
// thing rather than against the embedded stack (refmdm) that links the same
// code in-process.
//
// Build installs NanoMDM, scepserver and KMFDDM at the versions refmdm uses
// (so both stacks behave alike) with the running toolchain's `go install`
// into a cache folder shared by test runs and test processes. Start runs
// them on free 127.0.0.1 ports, wired to each other as an operator would
// wire them:
//
//	scepserver ca -init -depot D
//	scepserver -depot D -http-addr 127.0.0.1:P1 -challenge C -allowrenew 0
//	nanomdm -storage inmem -storage-dsn "" -ca D/ca.pem -api K -listen 127.0.0.1:P2 [-webhook-url W] [-dm http://127.0.0.1:P3/]
//	kmfddm -storage inmem -api K -listen 127.0.0.1:P3 -enqueue http://127.0.0.1:P2/v1/enqueue/ -enqueue-key K
//
// and hands back what a device and a harness need: the URLs, the API key,
// the SCEP CA, the push topic and an unsigned enrollment profile. NanoMDM
// pushes through Go's HTTP stack to api.push.apple.com, so a test that
// wants the pushes passes HTTPS_PROXY and SSL_CERT_FILE in
// Options.NanoMDMEnv (pointing at a mockapns CONNECT proxy) and uploads a
// push certificate for Servers.Topic with UploadPushCert.
//
// The servers live on real time: a test driving them runs its simulator on
// scaled time, never on the discrete-event clock. Their lifetime is bound
// to the context given to Start and, on Linux, to the test process itself
// (Pdeathsig), so a test killed mid-run leaves no server holding a port.
//
//	s, err := stock.Start(t.Context(), stock.Options{DDM: true})
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(s.Stop)
package stock
