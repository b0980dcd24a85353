package endpointdns

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// The CONNECT proxy resolves the name through the DNS server and tunnels
// bytes both ways; a name the server does not know gets 502.
func TestProxyTunnelsByName(t *testing.T) {
	t.Parallel()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	s, err := Serve("api.handover.test", []netip.Addr{netip.MustParseAddr("127.0.0.1")}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	px, err := ServeProxy(&Resolver{Server: s.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	port := strconv.Itoa(echo.Addr().(*net.TCPAddr).Port)
	connect := func(host string) (net.Conn, *bufio.Reader, int) {
		c, err := net.Dial("tcp", px.URL()[len("http://"):])
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, "CONNECT "+host+":"+port+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c, br, resp.StatusCode
	}
	c, br, code := connect("api.handover.test")
	defer func() { _ = c.Close() }()
	if code != http.StatusOK {
		t.Fatalf("CONNECT = %d", code)
	}
	_, _ = io.WriteString(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo through the tunnel = %q, %v", line, err)
	}
	c2, _, code := connect("other.handover.test")
	_ = c2.Close()
	if code != http.StatusBadGateway {
		t.Fatalf("unknown name: CONNECT = %d, want 502", code)
	}
}
