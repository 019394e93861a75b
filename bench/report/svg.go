package report

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartWidth   = 560
	chartHeight  = 260
	marginLeft   = 64
	marginRight  = 16
	marginTop    = 12
	marginBottom = 40
)

// palette is colour-blind friendly (Okabe-Ito without black), assigned to
// operations by sorted name so an op keeps its colour across charts.
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442"}

// series is one line of a chart; NaN in Y is a gap (no data in that slice).
type series struct {
	Name  string
	Color string
	X, Y  []float64
}

// chartSpec is what a chart shows; chartView is how it is drawn.
type chartSpec struct {
	ID, Title      string
	XLabel, YLabel string
	XFmt, YFmt     func(v, step float64) string
	YMax           float64 // fixed top of the y axis when > 0
	Series         []series
}

type tick struct {
	Pos   float64
	Label string
}

type pathView struct {
	Series, Color, D string
	Points           int
	// Dot is set for a one-point series, which a path cannot show.
	Dot        bool
	DotX, DotY float64
}

type chartView struct {
	ID, Title, XLabel, YLabel string
	Width, Height             int
	Left, Right, Top, Bottom  float64
	XTicks, YTicks            []tick
	Paths                     []pathView
	Empty                     bool
}

// build lays out the chart: nice ticks on both axes, one path per series.
func (c chartSpec) build() chartView {
	v := chartView{
		ID: c.ID, Title: c.Title, XLabel: c.XLabel, YLabel: c.YLabel,
		Width: chartWidth, Height: chartHeight,
		Left: marginLeft, Right: chartWidth - marginRight,
		Top: marginTop, Bottom: chartHeight - marginBottom,
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	ymax := 0.0
	points := 0
	for _, s := range c.Series {
		for i, x := range s.X {
			y := s.Y[i]
			if math.IsNaN(y) || math.IsInf(y, 0) || math.IsNaN(x) {
				continue
			}
			points++
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymax = math.Max(ymax, y)
		}
	}
	if points == 0 {
		v.Empty = true
		return v
	}
	if c.YMax > 0 {
		ymax = c.YMax
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ystep, ytop := niceScale(ymax)
	xstep := niceStep((xmax - xmin) / 6)
	for y := 0.0; y <= ytop+ystep/2; y += ystep {
		v.YTicks = append(v.YTicks, tick{Pos: v.yPos(y, ytop), Label: c.YFmt(y, ystep)})
	}
	for x := math.Ceil(xmin/xstep) * xstep; x <= xmax+xstep*1e-9; x += xstep {
		v.XTicks = append(v.XTicks, tick{Pos: v.xPos(x, xmin, xmax), Label: c.XFmt(x, xstep)})
	}
	for _, s := range c.Series {
		var d strings.Builder
		p := pathView{Series: s.Name, Color: s.Color}
		pen := false
		for i, x := range s.X {
			y := s.Y[i]
			if math.IsNaN(y) || math.IsInf(y, 0) {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			px, py := v.xPos(x, xmin, xmax), v.yPos(y, ytop)
			fmt.Fprintf(&d, "%s%s %s ", cmd, num(px), num(py))
			pen = true
			p.Points++
			p.DotX, p.DotY = px, py
		}
		p.D = strings.TrimSpace(d.String())
		p.Dot = p.Points == 1
		v.Paths = append(v.Paths, p)
	}
	return v
}

func (v chartView) xPos(x, xmin, xmax float64) float64 {
	return v.Left + (x-xmin)/(xmax-xmin)*(v.Right-v.Left)
}

func (v chartView) yPos(y, ytop float64) float64 {
	return v.Bottom - y/ytop*(v.Bottom-v.Top)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// niceStep rounds a raw step to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// niceScale gives the y step and the axis top (a multiple of the step at
// or above max), about five ticks.
func niceScale(max float64) (step, top float64) {
	if max <= 0 {
		return 1, 1
	}
	step = niceStep(max / 5)
	top = math.Ceil(max/step-1e-9) * step
	if top <= 0 {
		top = step
	}
	return step, top
}

// fmtCount labels a count axis: 1500 → 1.5k.
func fmtCount(v, step float64) string {
	switch {
	case step >= 1e6 || v >= 1e7:
		return trimFloat(v/1e6) + "M"
	case v >= 1e4:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// fmtSeconds labels a time axis whose values are seconds from the start.
func fmtSeconds(v, step float64) string {
	if step >= 1 {
		return (time.Duration(math.Round(v)) * time.Second).String()
	}
	return trimFloat(v) + "s"
}

// latencyUnit picks one unit for a latency axis so ticks read alike.
func latencyUnit(maxSeconds float64) (name string, scale float64) {
	switch {
	case maxSeconds >= 1:
		return "s", 1
	case maxSeconds >= 1e-3:
		return "ms", 1e3
	}
	return "µs", 1e6
}

func fmtPercent(v, _ float64) string { return trimFloat(v*100) + "%" }

func fmtDay(v, _ float64) string { return "day " + trimFloat(v) }

// svgTemplate draws a chartView; every string is escaped by html/template.
const svgTemplate = `{{define "chart"}}<figure class="chart">
<figcaption>{{.Title}}</figcaption>
<svg id="{{.ID}}" class="chart-svg" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Title}}" preserveAspectRatio="xMidYMid meet">
<rect x="0" y="0" width="{{.Width}}" height="{{.Height}}" fill="#ffffff"/>
{{- if .Empty}}
<text class="no-data" x="{{half .Width}}" y="{{half .Height}}" text-anchor="middle" fill="#888888">no data</text>
{{- else}}
<g class="grid" stroke="#e5e5e5" stroke-width="1">
{{- range .YTicks}}<line x1="{{$.Left}}" x2="{{$.Right}}" y1="{{.Pos}}" y2="{{.Pos}}"/>{{end}}
</g>
<g class="axis axis-y" font-size="11" fill="#444444" text-anchor="end">
{{- range .YTicks}}<text x="{{sub $.Left 6}}" y="{{add .Pos 4}}">{{.Label}}</text>{{end}}
</g>
<g class="axis axis-x" font-size="11" fill="#444444" text-anchor="middle">
{{- range .XTicks}}<line x1="{{.Pos}}" x2="{{.Pos}}" y1="{{$.Bottom}}" y2="{{add $.Bottom 4}}" stroke="#444444"/><text x="{{.Pos}}" y="{{add $.Bottom 16}}">{{.Label}}</text>{{end}}
</g>
<line x1="{{.Left}}" x2="{{.Left}}" y1="{{.Top}}" y2="{{.Bottom}}" stroke="#444444"/>
<line x1="{{.Left}}" x2="{{.Right}}" y1="{{.Bottom}}" y2="{{.Bottom}}" stroke="#444444"/>
<text class="axis-label" x="{{half .Width}}" y="{{sub .Height 4}}" font-size="11" fill="#444444" text-anchor="middle">{{.XLabel}}</text>
<text class="axis-label" x="12" y="{{half .Height}}" font-size="11" fill="#444444" text-anchor="middle" transform="rotate(-90 12 {{half .Height}})">{{.YLabel}}</text>
{{- range .Paths}}
<path class="series" data-series="{{.Series}}" data-points="{{.Points}}" d="{{.D}}" fill="none" stroke="{{.Color}}" stroke-width="2" stroke-linejoin="round"/>
{{- if .Dot}}<circle data-series="{{.Series}}" cx="{{.DotX}}" cy="{{.DotY}}" r="3" fill="{{.Color}}"/>{{end}}
{{- end}}
{{- end}}
</svg>
{{- if not .Empty}}
<div class="legend">{{range .Paths}}<span><i style="background: {{.Color | css}}"></i>{{.Series}}</span>{{end}}</div>
{{- end}}
</figure>{{end}}`

var svgFuncs = template.FuncMap{
	"half": func(n int) int { return n / 2 },
	"add":  func(a, b float64) float64 { return a + b },
	"sub": func(a any, b float64) float64 {
		switch a := a.(type) {
		case int:
			return float64(a) - b
		case float64:
			return a - b
		}
		return 0
	},
	// css passes a palette colour (never Result data) into a style attribute.
	"css": func(s string) template.CSS { return template.CSS(s) },
}
