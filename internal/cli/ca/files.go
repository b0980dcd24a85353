package ca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/utils/clock"

	"github.com/handover-dev/handover/internal/trust"
)

// source names an input in errors: `--active "a.pem"` or `file "a.pem"`.
func source(flag, path string) string {
	if flag == "" {
		return fmt.Sprintf("file %q", path)
	}
	return fmt.Sprintf("%s %q", flag, path)
}

// MaxInputBytes bounds what readInput reads from one file: far more than
// any PEM bundle of CAs or a key (a 4096-bit RSA certificate is ~2 KiB).
const MaxInputBytes = 1 << 20

// readInput reads path, naming it in the error. It reads at most
// MaxInputBytes (a larger input, e.g. /dev/zero, is ErrInputTooLarge),
// refuses devices (ErrNotAFile), and stops when ctx ends (Ctrl-C on a FIFO
// that no writer feeds): the file is opened non-blocking, so a pipe is
// read through the runtime poller and a read deadline interrupts it.
func readInput(ctx context.Context, flag, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%s: path is empty", flag)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", source(flag, path), err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", source(flag, path), err)
	}
	if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeDir|fs.ModeSocket) != 0 {
		return nil, fmt.Errorf("%s: %w (mode %s)", source(flag, path), ErrNotAFile, fi.Mode().Type())
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(f, MaxInputBytes+1))
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("%s: read: %w", source(flag, path), cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", source(flag, path), err)
	}
	if len(b) > MaxInputBytes {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", source(flag, path), ErrInputTooLarge, MaxInputBytes)
	}
	return b, nil
}

// resolveNow returns the time given with --now (RFC 3339), or clk's now.
func resolveNow(flagValue string, clk clock.PassiveClock) (time.Time, error) {
	if flagValue == "" {
		return clk.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, flagValue)
	if err != nil {
		return time.Time{}, fmt.Errorf("flag --now: %q is not an RFC 3339 time (e.g. 2026-01-01T00:00:00Z)", flagValue)
	}
	return t, nil
}

// output is one file to write.
type output struct {
	flag, path string
	data       []byte
	perm       fs.FileMode
}

// writeOutputs checks every output first (path set, distinct, not existing
// unless force) so bad input writes nothing, then writes each atomically:
// temp file in the same directory (created 0600), fsync, chmod, rename.
func writeOutputs(force bool, outs ...output) error {
	seen := map[string]string{}
	for _, o := range outs {
		if o.path == "" {
			return fmt.Errorf("%s is required", o.flag)
		}
		abs, err := filepath.Abs(o.path)
		if err != nil {
			return fmt.Errorf("%s: %w", source(o.flag, o.path), err)
		}
		if other, ok := seen[abs]; ok {
			return fmt.Errorf("%s: same file as %s", source(o.flag, o.path), other)
		}
		seen[abs] = o.flag
		if _, err := os.Lstat(o.path); err == nil && !force {
			return fmt.Errorf("%s: file exists (use --force to overwrite)", source(o.flag, o.path))
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", source(o.flag, o.path), err)
		}
	}
	for _, o := range outs {
		if err := writeAtomic(o.path, o.data, o.perm); err != nil {
			return fmt.Errorf("%s: write: %w", source(o.flag, o.path), err)
		}
	}
	return nil
}

func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// KeyPairFiles are the inputs `handover ca new` and `handover ca issue` share:
// where the new certificate and its private key go, the key algorithm, the
// issue time, how long the certificate is valid, and whether existing files
// may be replaced.
type KeyPairFiles struct {
	OutCert, OutKey string
	Algorithm       string // a trust.KeyAlgorithm
	Validity        time.Duration
	Now             string // RFC 3339; "" = Clock's now
	Force           bool   // overwrite existing output files
	Clock           clock.PassiveClock
	Out             io.Writer
}

// keyPairCommand completes cmd (Use, Short, Long and Example already set) as a
// verb without arguments that writes a certificate and key: it registers
// --out-cert and --out-key (required; what names the certificate, "CA" or
// "leaf"), --algorithm, --validity (default validity, help validityHelp),
// --now and --force on p, and on run sets p.Out to the command's stdout before calling
// run. It returns cmd; the caller adds its own flags.
func keyPairCommand(cmd *cobra.Command, p *KeyPairFiles, what string, validity time.Duration, validityHelp string, run func(context.Context) error) *cobra.Command {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		p.Out = cmd.OutOrStdout()
		return run(cmd.Context())
	}
	f := cmd.Flags()
	f.StringVar(&p.OutCert, "out-cert", "", "write the "+what+" certificate (PEM) here (required)")
	f.StringVar(&p.OutKey, "out-key", "", "write the "+what+" private key (PKCS#8 PEM, mode 0600) here (required)")
	f.StringVar(&p.Algorithm, "algorithm", string(trust.AlgorithmECDSAP256), algorithmHelp())
	f.DurationVar(&p.Validity, "validity", validity, validityHelp)
	f.StringVar(&p.Now, "now", "", "issue as of this RFC 3339 time instead of the current time")
	f.BoolVar(&p.Force, "force", false, "overwrite existing output files")
	_ = cmd.MarkFlagRequired("out-cert")
	_ = cmd.MarkFlagRequired("out-key")
	return cmd
}

func algorithmHelp() string {
	return fmt.Sprintf("key algorithm: one of %v, or the CertificateAuthority API's spelling (ECDSAP256, RSA2048, RSA3072, RSA4096, Ed25519)", trust.KeyAlgorithms())
}

// algorithm parses --algorithm in either spelling (trust.ParseKeyAlgorithm).
func (p *KeyPairFiles) algorithm() (trust.KeyAlgorithm, error) {
	a, err := trust.ParseKeyAlgorithm(p.Algorithm)
	if err != nil {
		return "", fmt.Errorf("flag --algorithm: %w", err)
	}
	return a, nil
}

// issueTime returns the time to issue at (--now, or the clock's now) after
// checking --now and --validity; on bad input it returns an error naming the
// flag.
func (p *KeyPairFiles) issueTime() (time.Time, error) {
	now, err := resolveNow(p.Now, p.Clock)
	if err != nil {
		return time.Time{}, err
	}
	if p.Validity <= 0 {
		return time.Time{}, fmt.Errorf("flag --validity: %v, want a positive duration", p.Validity)
	}
	return now, nil
}

// write writes certPEM to --out-cert (mode 0644) and keyPEM to --out-key
// (mode 0600) with writeOutputs (nothing is written on bad input), then prints
// summary and the two paths to p.Out; never the key itself.
func (p *KeyPairFiles) write(certPEM, keyPEM []byte, summary string) error {
	if err := writeOutputs(p.Force,
		output{flag: "--out-cert", path: p.OutCert, data: certPEM, perm: 0o644},
		output{flag: "--out-key", path: p.OutKey, data: keyPEM, perm: 0o600},
	); err != nil {
		return err
	}
	_, err := fmt.Fprintf(p.Out, "%s\n  certificate: %s\n  key (0600):  %s\n", summary, p.OutCert, p.OutKey)
	return err
}
