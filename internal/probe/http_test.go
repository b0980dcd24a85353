package probe

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHTTPAgainstRealServers(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	plain := httptest.NewServer(mux)
	t.Cleanup(plain.Close)

	k := newPKI(t)
	secure := httptest.NewUnstartedServer(mux)
	secure.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case makes it log handshake errors
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{*k.serverA}, MinVersion: tls.VersionTLS12}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	trustA := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: k.a.pool(), MinVersion: tls.VersionTLS12}}}
	trustB := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: k.b.pool(), MinVersion: tls.VersionTLS12}}}

	tests := []struct {
		name   string
		url    string
		client *http.Client
		want   string
	}{
		{"200", plain.URL + "/ok", nil, ""},
		{"503", plain.URL + "/down", nil, "http 503"},
		{"404", plain.URL + "/missing", nil, "http 404"},
		{"https trusted", secure.URL + "/ok", trustA, ""},
		{"https untrusted", secure.URL + "/ok", trustB, ClassUnknownAuthority},
		{"closed port", "http://" + closedAddr(t) + "/", nil, ClassConnectionRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &HTTP{URL: tc.url, Client: tc.client}
			err := onceWithTimeout(p, 5*time.Second)
			if got := Classify(err); got != tc.want {
				t.Fatalf("Once() = %v, class %q; want %q", err, got, tc.want)
			}
		})
	}
}

func TestHTTPBadConfig(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"", "http://[::1"} {
		if err := onceWithTimeout(&HTTP{URL: url}, time.Second); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Once() with URL %q = %v, want ErrInvalidConfig", url, err)
		}
	}
}
