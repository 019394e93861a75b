package report

// pageTemplate is the report's HTML; styles inline, no scripts, no links.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #fff; margin: 0 auto; padding: 16px 24px; max-width: 1200px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.partial { background: #fff3cd; border: 1px solid #e0c36a; padding: 6px 10px; margin: 8px 0; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px; margin: 0; }
dl.facts div { border: 1px solid #ddd; border-radius: 4px; padding: 6px 8px; }
dl.facts dt { font-size: 11px; text-transform: uppercase; color: #666; }
dl.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
dl.costs { margin-top: 8px; }
dl.costs div:first-child { grid-column: span 2; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { font-size: 12px; color: #555; border-bottom: 2px solid #ccc; }
td.bad { color: #b00020; font-weight: 600; }
.swatch, .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; }
figure.chart { margin: 0; border: 1px solid #ddd; border-radius: 4px; padding: 8px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart-svg { width: 100%; height: auto; display: block; }
.legend { font-size: 12px; margin-top: 4px; }
.legend span { margin-right: 12px; }
.bar { background: #f3d6cc; height: 10px; }
.none { color: #888; font-style: italic; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
{{- if .Partial}}
<p class="partial">Partial run: stopped before its end; figures cover only what ran.</p>
{{- end}}
<dl class="facts" id="summary">
{{- range .Summary}}<div><dt>{{.Key}}</dt><dd>{{.Value}}</dd></div>{{end}}
</dl>
<dl class="facts costs" id="costs">
{{- range .Costs}}<div><dt>{{.Key}}</dt><dd>{{.Value}}</dd></div>{{end}}
</dl>
</header>

<section id="operations">
<h2>Operations</h2>
{{- if .Ops}}
<table>
<thead><tr><th>op</th><th>count</th><th>rate</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>min</th><th>mean</th><th>errors</th><th>error %</th></tr></thead>
<tbody>
{{- range .Ops}}
<tr><td><span class="swatch" style="background: {{.Color | css}}"></span>{{.Op}}{{if .Virtual}} <small>(virtual time)</small>{{end}}</td><td>{{.Count}}</td><td>{{.Rate}}</td><td>{{.P50}}</td><td>{{.P90}}</td><td>{{.P99}}</td><td>{{.P999}}</td><td>{{.Max}}</td><td>{{.Min}}</td><td>{{.Mean}}</td><td{{if .HasErrors}} class="bad"{{end}}>{{.Errors}}</td><td{{if .HasErrors}} class="bad"{{end}}>{{.ErrPct}}</td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="none">no data: no operations recorded</p>
{{- end}}
</section>

<section id="charts">
<h2>Over time</h2>
<div class="charts">
{{- range .Charts}}
{{template "chart" .}}
{{- end}}
</div>
</section>

<section id="errors">
<h2>Errors by kind</h2>
{{- if .Errors}}
<table>
<thead><tr><th>kind</th><th>count</th><th>share</th><th style="width: 40%"></th></tr></thead>
<tbody>
{{- range .Errors}}
<tr><td>{{.Kind}}</td><td>{{.Count}}</td><td>{{.Share}}</td><td><div class="bar" style="width: {{.Width}}%"></div></td></tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p class="none">no errors</p>
{{- end}}
</section>
</body>
</html>
`
