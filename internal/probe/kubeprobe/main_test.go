package kubeprobe_test

import (
	"testing"

	"github.com/handover-dev/handover/internal/netns"
)

// TestMain runs the tests in a private network namespace (netns.Main): they
// use loopback addresses besides 127.0.0.1.
func TestMain(m *testing.M) { netns.Main(m) }
