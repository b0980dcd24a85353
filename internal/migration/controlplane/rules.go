package controlplane

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults and bounds.
const (
	// DefaultMaxTTL is the largest DNS TTL the preflight accepts: the drain
	// waits 2·TTL+1, so a 120 s TTL (Gardener's DNSEntry default) means 241 s.
	DefaultMaxTTL = 300 * time.Second
	// DefaultMaxSiteRTT is GEP-0039's bound: at ≥ 200 ms the destination
	// kube-apiserver's start-up LISTs time out.
	DefaultMaxSiteRTT = 180 * time.Millisecond
)

// DrainWait is how long the source apiserver stays fully Ready after the
// DNS switch: 2·TTL+1 s (GEP-7: one TTL for caches that fetched just before
// the switch, one for resolvers that hold an answer a further TTL; gardener
// #1546). Pure.
func DrainWait(ttl time.Duration) time.Duration { return 2*ttl + time.Second }

// CheckTTL returns "" when ttl is within max, else the reason. Pure.
func CheckTTL(ttl, maxTTL time.Duration) string {
	if ttl > maxTTL {
		return fmt.Sprintf("DNS TTL %s is above %s: the drain would wait %s; lower the TTL ahead of time (at least one old TTL before the migration)", ttl, maxTTL, DrainWait(ttl))
	}
	return ""
}

// CheckRTT returns "" when the RTT between the sites is within maxRTT, else
// the reason. Pure.
func CheckRTT(rtt, maxRTT time.Duration) string {
	if rtt > maxRTT {
		return fmt.Sprintf("RTT between the sites %s is above %s (GEP-0039: at ≥ 200 ms the target kube-apiserver's start-up LISTs time out and learners catch up slowly)", rtt.Round(time.Millisecond), maxRTT)
	}
	return ""
}

// EtcdTimings advises etcd's --heartbeat-interval and --election-timeout
// for rtt (etcd tuning guide: heartbeat ≈ the maximum RTT, election ≈ 10×
// heartbeat), never below etcd's defaults of 100 ms and 1000 ms. Pure.
func EtcdTimings(rtt time.Duration) (heartbeat, election time.Duration) {
	heartbeat = max(100*time.Millisecond, rtt.Round(10*time.Millisecond))
	return heartbeat, 10 * heartbeat
}

// CheckSkew returns "" when the target apiserver version may replace the
// source's: same major, target minor equal or one newer (Kubernetes version
// skew policy: apiservers within one minor during an upgrade). Unknown
// ("") versions pass. Pure.
func CheckSkew(source, target string) string {
	if source == "" || target == "" {
		return ""
	}
	sm, sn, err1 := majorMinor(source)
	tm, tn, err2 := majorMinor(target)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("cannot compare apiserver versions %q and %q", source, target)
	}
	if sm != tm || tn < sn || tn > sn+1 {
		return fmt.Sprintf("target apiserver %s may not replace source %s (same major, minor equal or +1)", target, source)
	}
	return ""
}

func majorMinor(v string) (int, int, error) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, fmt.Errorf("version %q", v)
	}
	a, err := strconv.Atoi(parts[0])
	if err != nil {
		return 0, 0, err
	}
	b, err := strconv.Atoi(parts[1])
	return a, b, err
}
