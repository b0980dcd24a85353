// Package version is the `handover version` command.
package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	hversion "github.com/handover-dev/handover/internal/version"
)

// Options are the flags of `handover version`.
type Options struct {
	Output string // "" (text) or "json"
}

// NewCommand returns `handover version`.
func NewCommand() *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print handover's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", `output format: "" for text or "json"`)
	return cmd
}

func run(cmd *cobra.Command, o *Options) error {
	info := hversion.Get()
	switch o.Output {
	case "":
		_, err := fmt.Fprintf(cmd.OutOrStdout(), "handover %s\ncommit: %s\ngo: %s\n", info.Version, info.Commit, info.GoVersion)
		return err
	case "json":
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	default:
		return fmt.Errorf("flag --output: unknown format %q (want \"\" or \"json\")", o.Output)
	}
}
