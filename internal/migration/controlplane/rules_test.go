package controlplane

import (
	"testing"
	"time"
)

func TestDrainWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ttl, want time.Duration }{
		{time.Second, 3 * time.Second},
		{60 * time.Second, 121 * time.Second}, // GEP-7
		{120 * time.Second, 241 * time.Second},
	} {
		if got := DrainWait(tc.ttl); got != tc.want {
			t.Errorf("DrainWait(%s) = %s, want %s", tc.ttl, got, tc.want)
		}
	}
}

func TestCheckSkew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src, dst string
		ok       bool
	}{
		{"1.35.4", "1.35.4", true},
		{"1.35.4", "1.36.0", true},
		{"1.35.4", "1.34.9", false},
		{"1.35.4", "1.37.0", false},
		{"1.35.4", "2.35.0", false},
		{"", "1.35.4", true},
		{"x", "1.35.4", false},
	} {
		if got := CheckSkew(tc.src, tc.dst); (got == "") != tc.ok {
			t.Errorf("CheckSkew(%q, %q) = %q, want ok=%v", tc.src, tc.dst, got, tc.ok)
		}
	}
}

func TestCheckTTLAndRTT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ttl time.Duration
		ok  bool
	}{{time.Second, true}, {DefaultMaxTTL, true}, {DefaultMaxTTL + time.Second, false}} {
		if got := CheckTTL(tc.ttl, DefaultMaxTTL); (got == "") != tc.ok {
			t.Errorf("CheckTTL(%s) = %q, want ok=%v", tc.ttl, got, tc.ok)
		}
	}
	for _, tc := range []struct {
		rtt time.Duration
		ok  bool
	}{{0, true}, {50 * time.Millisecond, true}, {180 * time.Millisecond, true}, {250 * time.Millisecond, false}} {
		if got := CheckRTT(tc.rtt, DefaultMaxSiteRTT); (got == "") != tc.ok {
			t.Errorf("CheckRTT(%s) = %q, want ok=%v", tc.rtt, got, tc.ok)
		}
	}
}

func TestEtcdTimings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rtt, hb, el time.Duration }{
		{0, 100 * time.Millisecond, time.Second},
		{50 * time.Millisecond, 100 * time.Millisecond, time.Second},
		{180 * time.Millisecond, 180 * time.Millisecond, 1800 * time.Millisecond},
	} {
		hb, el := EtcdTimings(tc.rtt)
		if hb != tc.hb || el != tc.el {
			t.Errorf("EtcdTimings(%s) = %s, %s; want %s, %s", tc.rtt, hb, el, tc.hb, tc.el)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	s := APIServerSpec{Name: "source", EtcdServers: []string{"http://a", "http://b"}, ShutdownDelay: 5 * time.Second,
		SendRetryAfter: true, WatchGrace: 3 * time.Second, GoawayChance: 0.02}
	got := map[string]bool{}
	for _, f := range s.Flags("/d") {
		got[f] = true
	}
	for _, want := range []string{"--etcd-servers=http://a,http://b", "--shutdown-delay-duration=5s",
		"--shutdown-send-retry-after=true", "--shutdown-watch-termination-grace-period=3s", "--goaway-chance=0.02", "--cert-dir=/d"} {
		if !got[want] {
			t.Errorf("flags lack %s", want)
		}
	}
	plain := APIServerSpec{Name: "poc", EtcdServers: []string{"http://a"}}
	for _, f := range plain.Flags("/d") {
		if len(f) > 11 && (f[:11] == "--shutdown-" || f[:9] == "--goaway-") {
			t.Errorf("zero spec renders %s", f)
		}
	}
}
