package root

import (
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// pluginName is how kubectl runs the binary installed as kubectl-handover.
const pluginName = "kubectl handover"

// DisplayName is the command name help should show for a process started
// as argv0: "kubectl handover" for a kubectl plugin binary (kubectl-handover,
// also kubectl-handover.exe), else "handover". It is pure.
func DisplayName(argv0 string) string {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if base == "kubectl-handover" {
		return pluginName
	}
	return "handover"
}

// displayAs makes cmd's help, usage lines and examples say name instead of
// "handover" (cobra's CommandDisplayNameAnnotation for the usage lines; the
// examples are rewritten where a line runs "handover ").
func displayAs(cmd *cobra.Command, name string) {
	if name == "" || name == "handover" {
		return
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[cobra.CommandDisplayNameAnnotation] = name
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Example = strings.ReplaceAll(c.Example, "  handover ", "  "+name+" ")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
}
