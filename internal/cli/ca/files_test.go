package ca

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadInputBounds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big := filepath.Join(dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, MaxInputBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok.pem")
	if err := os.WriteFile(ok, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error
		wantText   string
	}{
		{"regular file", ok, nil, ""},
		{"too large", big, ErrInputTooLarge, `file "` + big + `"`},
		{"endless device", "/dev/zero", ErrNotAFile, `file "/dev/zero"`},
		{"directory", dir, ErrNotAFile, "mode d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := readInput(t.Context(), "", tc.path)
			if tc.want == nil {
				if err != nil || string(b) != "x" {
					t.Fatalf("readInput = %q, %v", b, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("readInput error %v, want %v naming %q", err, tc.want, tc.wantText)
			}
		})
	}
}

// TestReadInputFIFOStopsOnCancel: a FIFO whose writer never writes nor
// closes does not hang the read: cancelling ctx (Ctrl-C) ends it.
func TestReadInputFIFOStopsOnCancel(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// A writer that holds the FIFO open and writes nothing.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := readInput(ctx, "--active", fifo); done <- err }()
	time.Sleep(50 * time.Millisecond) // let the read block (not required to pass)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `--active "`+fifo+`"`) {
			t.Fatalf("readInput error %v, want context.Canceled naming the flag and file", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("readInput on an idle FIFO did not return after cancel")
	}
}
