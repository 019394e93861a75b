package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/mdmsim/mdmsim/bench"
)

func render(t *testing.T, r *bench.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return buf.Bytes()
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

// findByID returns the element with the id, or nil.
func findByID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if found == nil && n.Type == html.ElementNode {
			if v, _ := attr(n, "id"); v == id {
				found = n
			}
		}
	})
	return found
}

// drawn maps each data-series of a chart to the number of points its path
// visits (M and L commands).
func drawn(t *testing.T, svg *html.Node) map[string]int {
	t.Helper()
	out := map[string]int{}
	walk(svg, func(n *html.Node) {
		if n.Type != html.ElementNode || (n.Data != "path" && n.Data != "polyline") {
			return
		}
		name, ok := attr(n, "data-series")
		if !ok {
			return
		}
		d, _ := attr(n, "d")
		if n.Data == "polyline" {
			d, _ = attr(n, "points")
		}
		out[name] = countPoints(d)
	})
	return out
}

var pathCmd = regexp.MustCompile(`[ML]\s*-?[0-9.]+[ ,]+-?[0-9.]+`)

func countPoints(d string) int { return len(pathCmd.FindAllString(d, -1)) }

func parse(t *testing.T, b []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

func TestWriteHTMLStructure(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	out := render(t, r)
	doc := parse(t, out)

	for _, tc := range []struct {
		id     string
		series map[string]int
	}{
		{ChartLatency, map[string]int{"checkin": 12, "command": 12}},
		{ChartThroughput, map[string]int{"checkin": 12, "command": 12}},
		{ChartErrors, map[string]int{"errors": 12}},
		{ChartCompliance, map[string]int{"compliant": len(r.Compliance)}},
	} {
		svg := findByID(doc, tc.id)
		if svg == nil || svg.Data != "svg" {
			t.Errorf("%s: no <svg> with that id", tc.id)
			continue
		}
		have := drawn(t, svg)
		if len(have) != len(tc.series) {
			t.Errorf("%s: have series %v, want %v", tc.id, have, tc.series)
		}
		for name, want := range tc.series {
			if have[name] != want {
				t.Errorf("%s: series %q has %d points, want %d", tc.id, name, have[name], want)
			}
		}
		var ticks int
		walk(svg, func(n *html.Node) {
			if n.Type == html.ElementNode && n.Data == "g" {
				if c, _ := attr(n, "class"); strings.HasPrefix(c, "axis ") {
					for k := n.FirstChild; k != nil; k = k.NextSibling {
						if k.Type == html.ElementNode && k.Data == "text" && k.FirstChild != nil && k.FirstChild.Data != "" {
							ticks++
						}
					}
				}
			}
		})
		if ticks < 4 {
			t.Errorf("%s: %d tick labels, want at least 4", tc.id, ticks)
		}
	}

	text := string(out)
	for _, want := range []string{"rollout", "embedded", "1000", "open, 200/s", "simulator 20s", "256.0 MiB", "400.0 MiB", "48.0 KiB", "timeout", "http-401", "14ms", "p99.9"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestWriteHTMLSelfContained: nothing in the page reaches the network.
func TestWriteHTMLSelfContained(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	r.Target = "https://mdm.example.com/" // data may hold URLs: shown, never loaded
	doc := parse(t, render(t, r))
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.Data {
		case "script", "link", "img", "iframe", "object", "embed", "image", "use":
			t.Errorf("page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			switch a.Key {
			case "src", "href", "xlink:href", "action", "srcset":
				t.Errorf("<%s> has %s=%q", n.Data, a.Key, a.Val)
			}
			if strings.Contains(a.Val, "url(") || strings.Contains(a.Val, "://") {
				t.Errorf("<%s %s=%q> refers to a URL", n.Data, a.Key, a.Val)
			}
		}
		if n.Data == "style" && n.FirstChild != nil {
			css := n.FirstChild.Data
			if strings.Contains(css, "url(") || strings.Contains(css, "@import") || strings.Contains(css, "://") {
				t.Errorf("stylesheet loads something: %s", css)
			}
		}
	})
	out := render(t, sampleResult())
	if bytes.Contains(out, []byte("http:")) || bytes.Contains(out, []byte("https:")) {
		t.Errorf("report mentions a URL although its data has none")
	}
}

// TestWriteHTMLEscapes: names from a Result are text, never markup.
func TestWriteHTMLEscapes(t *testing.T) {
	t.Parallel()
	evil := `<script>alert("x")</script>`
	r := sampleResult()
	r.Workload = evil
	r.Target = `"><img src=x onerror=alert(1)>`
	r.Ops[evil] = &bench.OpStats{Count: 1, P99: ms(1)}
	r.Errors[evil] = 1
	r.Timeline[0].Ops[evil] = 1
	r.Timeline[0].P99[evil] = ms(1)
	r.CPU[evil] = bench.Duration(time.Second)
	out := render(t, r)
	if bytes.Contains(out, []byte("<script")) || bytes.Contains(out, []byte("<img")) {
		t.Fatalf("unescaped markup in the report")
	}
	doc := parse(t, out)
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "img") {
			t.Errorf("parsed a <%s> element", n.Data)
		}
	})
	if have := drawn(t, findByID(doc, ChartThroughput)); have[evil] != 12 {
		t.Errorf("op with markup in its name: %d points, want 12 (series %v)", have[evil], have)
	}
}

func TestWriteHTMLEmpty(t *testing.T) {
	t.Parallel()
	for name, r := range map[string]*bench.Result{
		"nil":   nil,
		"zero":  {},
		"empty": {Ops: map[string]*bench.OpStats{}, Timeline: []bench.Interval{}, Errors: map[string]int64{}},
		"nil op and one interval": {
			Ops:      map[string]*bench.OpStats{"enroll": nil},
			Timeline: []bench.Interval{{Ops: map[string]int64{"enroll": 3}, P99: map[string]bench.Duration{"enroll": ms(2)}}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := render(t, r)
			doc := parse(t, out)
			for _, id := range []string{ChartLatency, ChartThroughput, ChartErrors} {
				if findByID(doc, id) == nil {
					t.Errorf("no %s", id)
				}
			}
			if r == nil || len(r.Timeline) == 0 {
				if n := strings.Count(string(out), "no data"); n < 4 {
					t.Errorf("%d \"no data\" placeholders, want at least 4 (table and three charts)", n)
				}
			}
		})
	}
}

func TestNiceScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ max, step, top float64 }{
		{1, 0.2, 1}, {7, 2, 8}, {23, 5, 25}, {100, 20, 100}, {0.0013, 0.0005, 0.0015}, {0, 1, 1},
	} {
		step, top := niceScale(tc.max)
		if !approx(step, tc.step) || !approx(top, tc.top) {
			t.Errorf("niceScale(%g) = %g, %g; want %g, %g", tc.max, step, top, tc.step, tc.top)
		}
	}
}

func approx(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestFmtDur(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0", 830 * time.Microsecond: "830µs", 12400 * time.Microsecond: "12.4ms",
		1520 * time.Millisecond: "1.52s", 90 * time.Second: "1m30s",
	} {
		if have := fmtDur(bench.Duration(d)); have != want {
			t.Errorf("fmtDur(%v) = %q, want %q", d, have, want)
		}
	}
}

// TestWriteHTMLRollout: a rollout's page names its scenario and the share
// it left compliant, and marks time-to-compliant as virtual time, without a
// rate per second of the run.
func TestWriteHTMLRollout(t *testing.T) {
	t.Parallel()
	day := bench.Duration(24 * time.Hour)
	r := &bench.Result{Schema: bench.SchemaVersion, Workload: "rollout", Scenario: "ddm-deadline", Target: "embedded", Devices: 1000,
		Ops: map[string]*bench.OpStats{
			"rollout":           {Count: 1, Rate: 0.1, P50: ms(9000), Max: ms(9000)},
			"time-to-compliant": {Count: 812, Errors: 188, Virtual: true, P50: 3 * day, Max: 7 * day},
		},
		Errors:     map[string]int64{"ddm-unsupported": 150, "unreachable": 38},
		Compliance: []bench.CompliancePoint{{Day: 0, Compliant: 0.1}, {Day: 7, Compliant: 0.8}, {Day: 7.5, Compliant: 0.812}},
	}
	doc := parse(t, render(t, r))
	var row string
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "tr" && strings.Contains(textOf(n), "time-to-compliant") {
			row = textOf(n)
		}
	})
	if !strings.Contains(row, "(virtual time)") || !strings.Contains(row, "—") || strings.Contains(row, "/s") {
		t.Errorf("time-to-compliant row %q: want it marked virtual time, with no rate", row)
	}
	text := textOf(doc)
	if !strings.Contains(row, "72h0m0s") || !strings.Contains(row, "168h0m0s") {
		t.Errorf("time-to-compliant row %q: want its days to the second", row)
	}
	for _, want := range []string{"Scenario", "ddm-deadline", "one rollout", "81.2% after 7.5 virtual days", "ddm-unsupported"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if findByID(doc, ChartCompliance) == nil {
		t.Errorf("no compliance chart")
	}
}

// textOf is the text n holds.
func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(k *html.Node) {
		if k.Type == html.TextNode {
			b.WriteString(k.Data)
		}
	})
	return b.String()
}
