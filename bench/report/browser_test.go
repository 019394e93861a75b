package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// chromium finds a headless-capable Chromium, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("chromium not installed (/usr/bin/chromium; set CHROMIUM to another path): skipping the browser check; on Debian: apt-get install -y chromium")
	return ""
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	home := t.TempDir() // a profile of its own, so parallel runs don't share one
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--no-first-run", "--disable-extensions", "--user-data-dir=" + filepath.Join(home, "profile")}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func writeReport(t *testing.T, name string, out []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBrowserRendersCharts loads the report in headless Chromium: the DOM
// it builds keeps every series path with its geometry, and a screenshot
// shows coloured lines where the charts are.
func TestBrowserRendersCharts(t *testing.T) {
	bin := chromium(t)
	path := writeReport(t, "report.html", render(t, sampleResult()))

	dom := runChromium(t, bin, "--dump-dom", "file://"+path)
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatalf("parse the DOM: %v", err)
	}
	for id, want := range map[string]int{ChartLatency: 2, ChartThroughput: 2, ChartErrors: 1, ChartCompliance: 1} {
		svg := findByID(doc, id)
		if svg == nil {
			t.Errorf("%s not in the browser's DOM", id)
			continue
		}
		var n int
		walk(svg, func(e *html.Node) {
			if e.Type != html.ElementNode || (e.Data != "path" && e.Data != "polyline") {
				return
			}
			if _, ok := attr(e, "data-series"); !ok {
				return
			}
			geom, _ := attr(e, "d")
			if e.Data == "polyline" {
				geom, _ = attr(e, "points")
			}
			if geom == "" {
				t.Errorf("%s: series path with empty geometry", id)
			}
			n++
		})
		if n != want {
			t.Errorf("%s: %d series in the DOM, want %d", id, n, want)
		}
	}

	full := screenshot(t, bin, path)
	empty := screenshot(t, bin, writeReport(t, "empty.html", render(t, nil)))

	// The charts sit below the header and the table; the region is the
	// page's middle, generously, so layout tweaks don't break the test.
	region := image.Rect(0, 400, full.Bounds().Dx(), min(full.Bounds().Dy(), 1300))
	nonWhite, coloured := countPixels(full, region)
	_, colouredEmpty := countPixels(empty, region)
	t.Logf("chart region %v: %d non-white pixels, %d coloured (empty report: %d coloured)", region, nonWhite, coloured, colouredEmpty)
	if nonWhite < region.Dx()*region.Dy()/100 {
		t.Errorf("chart region looks blank: %d non-white pixels of %d", nonWhite, region.Dx()*region.Dy())
	}
	// Series are drawn in saturated colours, axes and text in greys.
	if coloured < 2000 {
		t.Errorf("only %d coloured pixels in the chart region: series not drawn?", coloured)
	}
	if colouredEmpty*10 > coloured {
		t.Errorf("empty report has %d coloured pixels, full %d: the lines are not what colours the page", colouredEmpty, coloured)
	}
}

func screenshot(t *testing.T, bin, path string) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, bin, "--screenshot="+out, "--window-size=1200,1600", "file://"+path)
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	return img
}

// countPixels counts pixels that are not white, and those with a clear hue
// (channel spread above a fifth of full scale).
func countPixels(img image.Image, r image.Rectangle) (nonWhite, coloured int) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr < 0xf000 || cg < 0xf000 || cb < 0xf000 {
				nonWhite++
			}
			hi, lo := max(cr, cg, cb), min(cr, cg, cb)
			if hi-lo > 0xffff/5 {
				coloured++
			}
		}
	}
	return nonWhite, coloured
}
