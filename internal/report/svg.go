package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/handover-dev/handover/internal/probe"
)

//go:embed svg.tmpl
var svgTemplateText string

// svgTemplate is parsed once per WriteSVG call (no package-level mutable
// state); html/template escapes every label, so run and phase names cannot
// inject markup.
func svgTemplate() (*template.Template, error) {
	return template.New("svg").Parse(svgTemplateText)
}

// Layout, in SVG user units (px). Every panel uses the same geometry,
// relative to its own translate().
const (
	svgWidth     = 960
	panelHeight  = 280
	plotLeft     = 72
	plotRight    = svgWidth - 24
	plotTop      = 50
	plotHeight   = 160
	plotBottom   = plotTop + plotHeight
	latencyRoom  = 30 // px kept free above the highest latency point (band labels)
	failLaneMax  = 24 // px: height of a failure mark for a bin where every attempt failed
	failLaneMin  = 4  // px: height for a single failure
	labelCharPx  = 6  // approximate width of one label character at 10px
	maxXTicks    = 8
	bandLabelGap = 12
)

type svgDoc struct {
	Width, Height                                         int
	PlotTop, PlotH, PlotBottom, PlotMid, TickEnd, XLabelY int
	XTitleY, LegendY, LegendSwatchY, LegendLineY, YTitleX int
	Panels                                                []svgPanel
}

type svgPanel struct {
	Y                         int
	Title, Subtitle           string
	PlotX, PlotRight, LegendX string
	Bands                     []svgBand
	Fails                     []svgRect
	LatencyPath               string
	XTicks, YTicks            []svgTick
	Empty                     bool
	// PNR is the point of no return's x ("" when not marked).
	PNR string
	// PhaseLines list every phase by its band number, full names.
	PhaseLines []svgLine
	// Shared says the panels share their time and latency scales.
	Shared bool
}

type svgLine struct{ Y, Text string }

// svgScale is the time span (ms) and latency ceiling (ms) of a panel's axes.
type svgScale struct{ span, yMax float64 }

type svgBand struct {
	X, W, LabelX, LabelY string
	Style                string // band-even | band-odd | band-revert
	Label, Title         string
}

type svgRect struct{ X, Y, W, H, Title string }

type svgTick struct{ Pos, LabelX, Label string }

// WriteSVG renders one panel per run: phases as numbered bands (full names,
// durations and failures listed under the panel), failed attempts as red
// marks (height grows with the share of the bin's attempts that failed, full
// height = all), the per-bin p99 latency as a line (broken where a bin had
// no success), the point of no return as a dashed line, titled time and
// latency axes, and a legend. Several runs share one time scale and one
// latency scale so they can be compared. The output is
// standalone SVG 1.1 (well-formed XML). It returns an error wrapping
// ErrSchema or ErrInvalidReport for an invalid report, writing nothing.
func WriteSVG(w io.Writer, r *Report) error {
	if err := r.Validate(); err != nil {
		return err
	}
	tmpl, err := svgTemplate()
	if err != nil {
		return fmt.Errorf("parse svg template: %w", err)
	}
	doc := svgDoc{
		Width:   svgWidth,
		PlotTop: plotTop, PlotH: plotHeight, PlotBottom: plotBottom, PlotMid: plotTop + plotHeight/2,
		TickEnd: plotBottom + 4, XLabelY: plotBottom + 16, XTitleY: plotBottom + 30,
		LegendY: plotBottom + 46, LegendSwatchY: plotBottom + 38, LegendLineY: plotBottom + 42, YTitleX: 14,
	}
	// Compared runs share one time scale and one latency scale, so their
	// panels can be read against each other.
	var shared svgScale
	for _, run := range r.Runs {
		sc := scaleOf(run)
		shared.span, shared.yMax = max(shared.span, sc.span), max(shared.yMax, sc.yMax)
	}
	y := 0
	for _, run := range r.Runs {
		sc := scaleOf(run)
		if len(r.Runs) > 1 {
			sc = shared
		}
		p := panel(y, run, sc)
		p.Shared = len(r.Runs) > 1
		doc.Panels = append(doc.Panels, p)
		y += panelHeight + phaseLineH*len(p.PhaseLines)
	}
	doc.Height = max(y, panelHeight)
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, doc); err != nil {
		return fmt.Errorf("render svg: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}

// scaleOf is run's own time span (the latest phase end, timeline bin or
// wall time; 1 ms when nothing) and latency ceiling (niceCeil of the
// highest per-bin p99; 0 when no sample succeeded).
func scaleOf(run Run) svgScale {
	span := run.WallMS
	for _, ph := range run.Phases {
		span = max(span, ph.EndMS)
	}
	if len(run.Timeline) > 0 {
		span = max(span, run.Timeline[len(run.Timeline)-1].TMS+run.BinMS)
	}
	var maxP99 float64
	for _, b := range run.Timeline {
		maxP99 = max(maxP99, b.P99MS)
	}
	sc := svgScale{span: max(span, 0)}
	if maxP99 > 0 {
		sc.yMax = niceCeil(maxP99)
	}
	return sc
}

// Phase list below each panel: at most phasesPerLine phases a line.
const (
	phaseLineH    = 14
	phasesPerLine = 4
)

// title is "name · kind · plan <outcome>", the kind left out when it
// repeats the name, and the failures named next to a Succeeded outcome (a
// plan can succeed while clients fail).
func title(run Run) string {
	kind := run.Kind
	if kind == run.Name {
		kind = ""
	}
	outcome := ""
	if run.Outcome != "" {
		outcome = "plan " + run.Outcome
		if run.Failures > 0 {
			outcome += fmt.Sprintf(", yet %d of %d requests failed", run.Failures, run.Requests)
		}
	}
	return strings.Join(nonEmpty(run.Name, kind, outcome), " · ")
}

func panel(y int, run Run, sc svgScale) svgPanel {
	p := svgPanel{
		Y:         y,
		Title:     title(run),
		Subtitle:  subtitle(run),
		PlotX:     px(plotLeft),
		PlotRight: px(plotRight),
	}
	span := sc.span
	if span <= 0 {
		p.Empty = run.Requests == 0
		span = 1
	}
	x := func(tms float64) float64 { return plotLeft + tms/span*(plotRight-plotLeft) }

	var names []string
	for i, ph := range run.Phases {
		x0, x1 := x(ph.StartMS), x(ph.EndMS)
		n := strconv.Itoa(i + 1)
		b := svgBand{X: px(x0), W: px(max(x1-x0, 0)), Style: bandStyle(i, ph.Name),
			Title: fmt.Sprintf("%s %s: +%s for %s, %d requests, %d failed", n, ph.Name, FormatMS(ph.StartMS),
				FormatMS(ph.EndMS-ph.StartMS), ph.Requests, ph.Failures)}
		label := fit(n+" "+ph.Name, int((x1-x0-4)/labelCharPx))
		if label == "" || strings.HasSuffix(label, "…") {
			label = fit(n, int((x1-x0-2)/labelCharPx)+1)
		}
		if label != "" {
			b.Label, b.LabelX, b.LabelY = label, px(x0+3), strconv.Itoa(plotTop+bandLabelGap*(1+i%2))
		}
		p.Bands = append(p.Bands, b)
		entry := fmt.Sprintf("%s %s (%s, %d failed)", n, ph.Name, FormatMS(ph.EndMS-ph.StartMS), ph.Failures)
		if ph.Name == run.PointOfNoReturn && run.PointOfNoReturn != "" && p.PNR == "" {
			p.PNR = px(x0)
		}
		names = append(names, entry)
	}
	for i := 0; i < len(names); i += phasesPerLine {
		line := strings.Join(names[i:min(i+phasesPerLine, len(names))], " · ")
		if i == 0 {
			line = "phases: " + line
		}
		p.PhaseLines = append(p.PhaseLines, svgLine{Y: strconv.Itoa(plotBottom + 62 + phaseLineH*len(p.PhaseLines)), Text: line})
	}

	binW := max(run.BinMS/span*(plotRight-plotLeft), 1.5)
	for _, b := range run.Timeline {
		if b.Failures == 0 || b.Requests == 0 {
			continue
		}
		h := failLaneMin + (failLaneMax-failLaneMin)*float64(b.Failures)/float64(b.Requests)
		p.Fails = append(p.Fails, svgRect{X: px(x(b.TMS)), Y: px(plotBottom - h), W: px(binW), H: px(h),
			Title: fmt.Sprintf("+%s: %d of %d failed", FormatMS(b.TMS), b.Failures, b.Requests)})
	}

	yMax := sc.yMax
	if yMax <= 0 {
		yMax = 1
	}
	yOf := func(v float64) float64 { return plotBottom - v/yMax*(plotHeight-latencyRoom) }
	var path strings.Builder
	pen := false
	for _, b := range run.Timeline {
		if b.P99MS <= 0 {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		if path.Len() > 0 {
			path.WriteByte(' ')
		}
		fmt.Fprintf(&path, "%s%s %s", cmd, px(x(b.TMS+run.BinMS/2)), px(yOf(b.P99MS)))
		pen = true
	}
	p.LatencyPath = path.String()
	if sc.yMax > 0 {
		for _, v := range []float64{0, yMax / 2, yMax} {
			p.YTicks = append(p.YTicks, svgTick{Pos: px(yOf(v)), LabelX: px(plotLeft - 4), Label: FormatMS(v)})
		}
	}

	step := niceCeil(span / maxXTicks)
	for t := 0.0; t <= span+step/1e6; t += step {
		p.XTicks = append(p.XTicks, svgTick{Pos: px(x(t)), Label: FormatMS(t)})
	}
	return p
}

func subtitle(run Run) string {
	s := fmt.Sprintf("%d requests · %d failed · longest outage %s · p99 %s · wall %s",
		run.Requests, run.Failures, FormatMS(run.LongestOutageMS), FormatMS(run.Latency.P99), FormatMS(run.WallMS))
	if run.Failures > 0 {
		s += " · " + formatClasses(run.FailureClasses)
	}
	return s
}

func bandStyle(i int, name string) string {
	if strings.HasPrefix(name, probe.RevertPhasePrefix) {
		return "band-revert"
	}
	if i%2 == 0 {
		return "band-even"
	}
	return "band-odd"
}

// fit shortens s to at most n runes with an ellipsis; "" if n < 3.
func fit(s string, n int) string {
	r := []rune(s)
	switch {
	case n < 3:
		return ""
	case len(r) <= n:
		return s
	}
	return string(r[:n-1]) + "…"
}

// niceCeil returns the smallest 1, 2 or 5 × 10^k that is >= v (1 for v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	base := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*base >= v*(1-1e-9) {
			return m * base
		}
	}
	return 10 * base
}

func px(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
