package tlsloop_test

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/handover-dev/handover/internal/tlsloop"
)

var errSentinel = errors.New("sentinel")

func TestParseMaterialErrors(t *testing.T) {
	t.Parallel()
	p, other := newPKI(t, "p"), newPKI(t, "other")
	with := func(name string, content []byte) tlsloop.Snapshot {
		files := maps.Clone(p.snapshot.Files)
		files[name] = content
		return tlsloop.Snapshot{Generation: p.snapshot.Generation, Files: files}
	}
	tests := []struct {
		name      string
		snap      tlsloop.Snapshot
		bundleErr error
		wantIs    error // nil: any error
		wantIn    string
	}{
		{"key of another leaf", with(tlsloop.FileKey, other.snapshot.Files[tlsloop.FileKey]), nil, nil, "tls.crt/tls.key"},
		{"no key", with(tlsloop.FileKey, nil), nil, nil, "tls.crt/tls.key"},
		{"empty bundle", with(tlsloop.FileCA, nil), nil, tlsloop.ErrNoCertificate, "ca.crt"},
		{"empty bundle, caller sentinel", with(tlsloop.FileCA, []byte("junk")), errSentinel, errSentinel, "ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := tlsloop.ParseMaterial(tt.snap, tt.bundleErr)
			if err == nil {
				t.Fatalf("ParseMaterial = generation %s, want an error", m.Generation)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("error %q does not wrap %v", err, tt.wantIs)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.snap.Generation) || !strings.Contains(msg, tt.wantIn) {
				t.Fatalf("error %q does not name generation %s and %s", msg, tt.snap.Generation, tt.wantIn)
			}
			for _, key := range [][]byte{p.snapshot.Files[tlsloop.FileKey], other.snapshot.Files[tlsloop.FileKey]} {
				if bytes.Contains([]byte(msg), bytes.TrimSpace(key)) || strings.Contains(msg, "PRIVATE KEY") {
					t.Fatal("error contains key material")
				}
			}
		})
	}
}

// source is an in-memory tlsloop.Source counting Reads.
type source struct {
	mu    sync.Mutex
	snap  tlsloop.Snapshot
	reads int
}

func (s *source) Generation() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap.Generation, nil
}

func (s *source) Read() (tlsloop.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.snap, nil
}

func (s *source) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *source) set(snap tlsloop.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
}

func TestLoaderCachesPerGenerationAndReloads(t *testing.T) {
	t.Parallel()
	oldPKI, newPKI := newPKI(t, "old"), newPKI(t, "new")
	src := &source{snap: oldPKI.snapshot}
	ld := &tlsloop.Loader{Source: src}

	static, err := ld.StaticServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ld.Load(); err != nil {
		t.Fatal(err)
	}
	if src.readCount() != 1 {
		t.Fatalf("Read called %d times for one generation, want 1", src.readCount())
	}
	hot := startServer(t, ld.ReloadingServerConfig())
	pinned := startServer(t, static)

	src.set(newPKI.snapshot)
	leaf, _, err := dialRoundTrip(hot.Addr(), newPKI.clientConfig())
	if err != nil {
		t.Fatalf("hot server after the generation changed: %v", err)
	}
	if got := leaf.Issuer.CommonName; got != "new" {
		t.Fatalf("hot server presents a leaf of %q, want new", got)
	}
	leaf, _, err = dialRoundTrip(pinned.Addr(), oldPKI.clientConfig())
	if err != nil {
		t.Fatalf("static server after the generation changed: %v", err)
	}
	if got := leaf.Issuer.CommonName; got != "old" {
		t.Fatalf("static server presents a leaf of %q, want old", got)
	}
	if src.readCount() != 2 {
		t.Fatalf("Read called %d times for two generations, want 2", src.readCount())
	}
}
