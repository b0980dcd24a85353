package localcp

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The router sends a dialer from the other site through the delayed path
// and one from its own site, or an unknown one, straight to the member,
// replaying the request head it read.
func TestSiteRouterPicksPathByDialerSite(t *testing.T) {
	t.Parallel()
	l := newSiteLink(0)
	l.idSite[0x1a] = siteSource
	l.idSite[0x2b] = siteTarget
	listen := func() (net.Listener, chan string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		got := make(chan string, 4)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer func() { _ = c.Close() }()
					line, _ := bufio.NewReader(c).ReadString('\n')
					got <- line
					_, _ = io.WriteString(c, "ok\n")
				}()
			}
		}()
		return ln, got
	}
	member, direct := listen()
	delayed, slow := listen()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.fronts = append(l.fronts, front)
	t.Cleanup(l.Close)
	go l.serve(front, siteTarget, member.Addr().String(), delayed.Addr().String())
	for _, tc := range []struct {
		name, header string
		want         chan string
	}{
		{"source member dials a target", "X-Server-From: 1a\r\n", slow},
		{"target member dials a target", "X-Server-From: 2b\r\n", direct},
		{"unknown dialer", "", direct},
		{"garbage id", "X-Server-From: zz\r\n", direct},
	} {
		c, err := net.Dial("tcp", front.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		req := "GET /raftstream/message/2b HTTP/1.1\r\nHost: x\r\n" + tc.header + "\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		reply, _ := bufio.NewReader(c).ReadString('\n')
		_ = c.Close()
		if reply != "ok\n" {
			t.Errorf("%s: reply %q through the router", tc.name, reply)
		}
		select {
		case line := <-tc.want:
			if !strings.HasPrefix(line, "GET /raftstream/message/2b") {
				t.Errorf("%s: upstream read %q, want the replayed request line", tc.name, line)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the expected path got no connection", tc.name)
		}
	}
	if len(direct)+len(slow) != 0 {
		t.Errorf("extra connections: %d direct, %d delayed", len(direct), len(slow))
	}
}
