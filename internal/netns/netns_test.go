package netns

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// The tests run in the namespace Main made: a network namespace other than
// the one Main was started in (the parent's), with its loopback up so
// 127.0.0.2 can be bound.
func TestTestsRunInAPrivateNetworkNamespace(t *testing.T) {
	if !Inside() {
		t.Skip("no private network namespace here (Main said why on stderr)")
	}
	mine, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// Without root the parent is outside the child's user namespace and
	// its link cannot be read; the interface list below still tells.
	if parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", os.Getppid())); err == nil && mine == parent {
		t.Fatalf("network namespace %s is the parent's", mine)
	}
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2 in the private namespace: %v", err)
	}
	_ = l.Close()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
		t.Fatalf("interfaces %v, want only lo, up", ifs)
	}
}

func TestSysProcAttr(t *testing.T) {
	root := sysProcAttr(0, 0)
	if root.Cloneflags&syscall.CLONE_NEWNET == 0 || root.Cloneflags&syscall.CLONE_NEWUSER != 0 || len(root.UidMappings) != 0 {
		t.Fatalf("root: %+v, want CLONE_NEWNET only", root)
	}
	user := sysProcAttr(1000, 1001)
	if user.Cloneflags&(syscall.CLONE_NEWUSER|syscall.CLONE_NEWNET) != syscall.CLONE_NEWUSER|syscall.CLONE_NEWNET || user.UidMappings[0].HostID != 1000 || user.UidMappings[0].ContainerID != 1000 ||
		user.GidMappings[0].HostID != 1001 || len(user.AmbientCaps) != 1 {
		t.Fatalf("user: %+v, want CLONE_NEWUSER mapping 1000:1001 to themselves with CAP_NET_ADMIN", user)
	}
}
