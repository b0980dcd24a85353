package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// FormatMS renders a millisecond figure for humans: "0", "0.42ms",
// "12.3ms", "1.84s", "2m05s". Negative values render with a leading "-".
func FormatMS(v float64) string {
	if v < 0 {
		return "-" + FormatMS(-v)
	}
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.2fms", v)
	case v < 1000:
		return trimZero(fmt.Sprintf("%.1f", v)) + "ms"
	case v < 60_000:
		return trimZero(fmt.Sprintf("%.2f", v/1000)) + "s"
	}
	secs := int64(v/1000 + 0.5)
	return fmt.Sprintf("%dm%02ds", secs/60, secs%60)
}

// trimZero drops trailing zeros of a decimal ("1.50" → "1.5", "2.0" → "2").
func trimZero(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// formatClasses renders "unknown authority=3, bad certificate=1", largest
// count first (ties by name), or "-" when empty.
func formatClasses(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c // most failures first
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
