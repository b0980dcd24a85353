package demo

import (
	"fmt"
	"strconv"
	"strings"
)

// mibValue is a --data flag in MiB that also takes a unit: "64", "64MiB",
// "1GiB", "1.5GiB" (binary units; "Mi"/"Gi" and "M"/"G" too).
type mibValue struct{ mib *int }

func (v mibValue) String() string {
	if v.mib == nil {
		return "0"
	}
	return strconv.Itoa(*v.mib)
}

func (v mibValue) Type() string { return "size" }

// Set parses s; a bare number is MiB.
func (v mibValue) Set(s string) error {
	n, err := ParseMiB(s)
	if err != nil {
		return err
	}
	*v.mib = n
	return nil
}

// ParseMiB parses a size as whole MiB: "64" (MiB), "64MiB", "1GiB",
// "1.5GiB"; units are binary and case-insensitive (MiB, Mi, M, GiB, Gi, G).
// It errors on a negative or malformed size.
func ParseMiB(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"gib", 1024}, {"gi", 1024}, {"g", 1024}, {"mib", 1}, {"mi", 1}, {"m", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want MiB or a number with MiB or GiB, e.g. 64 or 1GiB", s)
	}
	return int(f * mult), nil
}
