package etcd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scrapeProgress GETs a Prometheus text endpoint and returns the values of
// etcd_server_proposals_applied_total and etcd_mvcc_db_total_size_in_bytes.
func scrapeProgress(ctx context.Context, url string) (uint64, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return ParseProgressMetrics(resp.Body)
}

// ParseProgressMetrics reads Prometheus text exposition and returns the
// applied index (etcd_server_proposals_applied_total) and the database size
// in bytes (etcd_mvcc_db_total_size_in_bytes). It errors when either is
// missing or malformed.
func ParseProgressMetrics(r io.Reader) (uint64, int64, error) {
	var applied, db float64
	seen := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "etcd_server_proposals_applied_total":
			dst = &applied
		case "etcd_mvcc_db_total_size_in_bytes":
			dst = &db
		default:
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("metric %s: %w", name, err)
		}
		*dst = v
		seen++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if seen < 2 {
		return 0, 0, fmt.Errorf("metrics lack etcd_server_proposals_applied_total or etcd_mvcc_db_total_size_in_bytes")
	}
	return uint64(applied), int64(db), nil
}

// ParseMetrics reads Prometheus text exposition and returns, for each of
// names, the sum of its samples over all label sets (absent names are left
// out). Comments and other metrics are skipped; a malformed value errors.
func ParseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	err := eachSample(r, func(name, _ string) bool { return want[name] }, func(name, _ string, v float64) {
		out[name] += v
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachSample scans Prometheus text exposition and calls use with the
// metric name, its label text (between the braces, "" when none) and the
// value of every sample keep accepts; comments are skipped. A kept sample
// with a malformed value is an error naming the series.
func eachSample(r io.Reader, keep func(name, labels string) bool, use func(name, labels string, v float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, val := line[:i], line[i+1:]
		name, labels, _ := strings.Cut(series, "{")
		if !keep(name, labels) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return fmt.Errorf("metric %s: %w", series, err)
		}
		use(name, labels, v)
	}
	return sc.Err()
}
