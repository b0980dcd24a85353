package ca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The output helpers every verb shares: the -o/--output flag, JSON and
// all-or-nothing text writes, placeholders for empty values, and one-line,
// control-character-free renderings of text that comes from certificates or
// from the cluster.

// addOutputFlag registers -o/--output on cmd into format; textForm names the
// default form in the help ("text" or "a table").
func addOutputFlag(cmd *cobra.Command, format *string, textForm string) {
	cmd.Flags().StringVarP(format, "output", "o", "", `output format: "" for `+textForm+` or "json"`)
}

// checkOutput returns an error naming flag --output unless format is "" (text)
// or "json".
func checkOutput(format string) error {
	if format != "" && format != "json" {
		return fmt.Errorf("flag --output: unknown format %q (want \"\" or \"json\")", format)
	}
	return nil
}

// writeJSON writes v as indented JSON (two spaces) and a newline to w; it
// returns the marshalling or write error.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeBuffered runs fill on an in-memory buffer and writes the result to w
// in one call, so a failing fill writes nothing. It returns fill's error or
// the write error.
func writeBuffered(w io.Writer, fill func(io.Writer) error) error {
	var buf bytes.Buffer // writes to a bytes.Buffer cannot fail; one checked write below
	if err := fill(&buf); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// orDash returns s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clean escapes control characters (a hostile subject could hold tabs,
// newlines or terminal escapes) so every row stays one aligned line.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// timeText returns t in UTC as RFC 3339 (second precision), or "-" for the
// zero time.
func timeText(t metav1.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// oneLine folds whitespace and escapes control characters (status text is
// written by the controller from object names and apiserver messages).
func oneLine(s string) string { return clean(strings.Join(strings.Fields(s), " ")) }

// orText returns s, or alt when s is empty.
func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
