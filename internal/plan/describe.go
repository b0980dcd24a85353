package plan

import (
	"fmt"
	"strings"
)

// Describe renders p for --plan / --dry-run output: a header line, one
// numbered line per step ("  2. name: Describer text"; further lines of a
// multi-line description are indented under it), and a marker line before
// the first step that cannot be reverted. The text is deterministic (it
// depends only on p) and ends with a newline. A nil plan gives "".
//
//	plan "rotate-trust": 3 steps
//	  1. add-ca: add the new CA to every bundle
//	  --- point of no return: the steps below are not reverted ---
//	  2. switch-leaves
//	  3. drop-old-ca
//
// When every step can be reverted the marker is replaced by a last line
// "  (every step can be reverted)".
func Describe(p *Plan) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	noun := "steps"
	if len(p.Steps) == 1 {
		noun = "step"
	}
	fmt.Fprintf(&b, "plan %q: %d %s\n", p.Name, len(p.Steps), noun)
	for i, s := range p.Steps {
		if i == p.PointOfNoReturn {
			b.WriteString("  --- point of no return: the steps below are not reverted ---\n")
		}
		prefix := fmt.Sprintf("  %d. ", i+1)
		b.WriteString(prefix)
		if s == nil {
			b.WriteString("<nil step>\n")
			continue
		}
		b.WriteString(s.Name())
		if d, ok := s.(Describer); ok {
			if text := strings.TrimRight(d.Describe(), "\n"); text != "" {
				indent := strings.Repeat(" ", len(prefix))
				b.WriteString(": ")
				b.WriteString(strings.ReplaceAll(text, "\n", "\n"+indent))
			}
		}
		b.WriteByte('\n')
	}
	switch {
	case len(p.Steps) == 0:
		b.WriteString("  (no steps)\n")
	case p.PointOfNoReturn >= len(p.Steps):
		b.WriteString("  (every step can be reverted)\n")
	}
	return b.String()
}
