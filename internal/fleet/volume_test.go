package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestVolumeLayoutMatchesKubeletAtomicWriter(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 20, 22, 14, 7, 0, time.UTC))
	v, err := NewVolume(t.TempDir(), clk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Read(); !errors.Is(err, ErrNoData) {
		t.Fatalf("Read before Write: got %v, want ErrNoData", err)
	}
	if err := v.Write(map[string][]byte{FileCA: []byte("ca1"), FileCert: []byte("crt1"), FileKey: []byte("key1")}); err != nil {
		t.Fatal(err)
	}
	first, err := v.Generation()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "..2026_11_20_22_14_07.") {
		t.Fatalf("generation dir %q lacks the kubelet timestamp layout", first)
	}
	for _, name := range []string{FileCA, FileCert, FileKey} {
		link, err := os.Readlink(filepath.Join(v.Dir(), name))
		if err != nil || link != filepath.Join("..data", name) {
			t.Fatalf("%s: link %q, %v; want ..data/%s", name, link, err, name)
		}
	}
	clk.Step(time.Second)
	if err := v.Write(map[string][]byte{FileCA: []byte("ca2"), FileCert: []byte("crt2"), FileKey: []byte("key2")}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(v.Dir(), FileCA))
	if err != nil || string(b) != "ca2" {
		t.Fatalf("visible ca.crt after second write = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(v.Dir(), first)); !os.IsNotExist(err) {
		t.Fatalf("old generation %s still present (err %v)", first, err)
	}
	if _, err := os.Lstat(filepath.Join(v.Dir(), "..data_tmp")); !os.IsNotExist(err) {
		t.Fatalf("..data_tmp left behind (err %v)", err)
	}
}

func TestVolumeWriteRejectsBadNamesAndChangesNothing(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakeClock(time.Now())
	v, err := NewVolume(t.TempDir(), clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Write(map[string][]byte{FileCA: []byte("good")}); err != nil {
		t.Fatal(err)
	}
	before, _ := v.Generation()
	for _, name := range []string{"", "..data", "a/b"} {
		err := v.Write(map[string][]byte{FileCA: []byte("new"), name: []byte("x")})
		if !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("Write with file %q: got %v, want ErrInvalidPayload", name, err)
		}
	}
	after, _ := v.Generation()
	snap, err := v.Read()
	if before != after || err != nil || string(snap.Files[FileCA]) != "good" {
		t.Fatalf("rejected write changed the volume: %s -> %s, %q, %v", before, after, snap.Files[FileCA], err)
	}
}

// A reader racing a writer must always get ca.crt, tls.crt and tls.key from
// the same generation.
func TestVolumeReadersNeverSeeATornSet(t *testing.T) {
	t.Parallel()
	clk := clocktesting.NewFakeClock(time.Now())
	v, err := NewVolume(t.TempDir(), clk)
	if err != nil {
		t.Fatal(err)
	}
	write := func(i int) error {
		g := []byte(fmt.Sprintf("gen-%d", i))
		return v.Write(map[string][]byte{FileCA: g, FileCert: g, FileKey: g})
	}
	if err := write(0); err != nil {
		t.Fatal(err)
	}
	const writes = 300
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	reads := make([]int, 4)
	for r := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				snap, err := v.Read()
				if errors.Is(err, ErrTorn) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				ca, crt, key := snap.Files[FileCA], snap.Files[FileCert], snap.Files[FileKey]
				if !bytes.Equal(ca, crt) || !bytes.Equal(ca, key) {
					errs <- fmt.Errorf("torn set: ca=%q crt=%q key=%q", ca, crt, key)
					return
				}
				reads[r]++
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		if err := write(i); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, n := range reads {
		total += n
	}
	if total == 0 {
		t.Fatal("readers made no successful read")
	}
}
