package testenv

import (
	"net"
	"testing"
)

// FreeLoopbackAddr returns "127.0.0.1:port" for a TCP port that was free
// a moment ago (listened on, then closed): a port for a server the test
// starts, or an address nothing listens on (a probe that must fail with
// connection refused). Fails the test if no port can be had.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
