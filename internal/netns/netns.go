// Package netns runs the current program again inside a private network
// namespace (network_namespaces(7)) whose only interface is its own
// loopback. The demos and tests that need more than one loopback address —
// two control-plane sites on 127.0.0.1 and 127.0.0.2 behind one DNS name,
// etcd members on 127.0.0.11–23 that serve clients on one port, member
// metrics on 127.0.0.2 — run there, so their traffic never reaches the
// host's loopback beyond 127.0.0.1, and the namespace (with every address
// in it) is gone when the last process in it exits.
//
// As root the child gets a new network namespace (CLONE_NEWNET). Otherwise
// it also gets a new user namespace (CLONE_NEWUSER, user_namespaces(7)) that
// maps the caller's uid and gid to themselves and keeps CAP_NET_ADMIN as an
// ambient capability, which is what bringing the namespace's loopback up
// needs; files the child writes belong to the caller as usual. Where
// neither is allowed (unprivileged user namespaces disabled), Isolate
// reports that and the caller runs in place.
package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// EnvMarker is set (to "1") in the environment of a program Isolate or Main
// started in a private network namespace; its children inherit it, and
// Inside reads it.
const EnvMarker = "HANDOVER_NETNS"

// Inside reports whether this process runs in a namespace that Isolate or
// Main created (EnvMarker is "1").
func Inside() bool { return os.Getenv(EnvMarker) == "1" }

// ExitError is the exit status of a program run by Isolate that did not
// exit 0. The program has printed its own error; callers exit with Code
// without printing another.
type ExitError struct{ Code int }

func (e *ExitError) Error() string {
	return fmt.Sprintf("exited with status %d in its network namespace", e.Code)
}

// ErrUnavailable wraps the reason a private network namespace could not be
// created (EPERM without root when unprivileged user namespaces are
// disabled, or a kernel without network namespaces).
var ErrUnavailable = errors.New("no private network namespace")

// Isolate runs this program again (os.Executable, the same arguments,
// environment plus EnvMarker, stdin shared, output to stdout and stderr) in a new network
// namespace, brings its loopback up (the child calls LoopbackUp through
// Enter), and waits for it. It returns (true, nil) when the
// child exited 0, (true, *ExitError) when it exited otherwise, and (false,
// error wrapping ErrUnavailable) when no namespace could be created — the
// caller then decides whether to run in place. When ctx is done the child
// gets SIGTERM (a terminal's Ctrl-C reaches it directly: it is in the same
// process group) and Isolate still waits for it to exit. It must not be
// called from inside (Inside): that returns (false, an error).
func Isolate(ctx context.Context, stdout, stderr io.Writer) (ran bool, err error) {
	if Inside() {
		return false, errors.New("netns: already inside a private network namespace")
	}
	exe, err := os.Executable()
	if err != nil {
		return false, fmt.Errorf("%w: find this program: %w", ErrUnavailable, err)
	}
	cmd := exec.CommandContext(ctx, exe, os.Args[1:]...) //nolint:gosec // G204: this very program, with its own arguments
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	cmd.Env = append(os.Environ(), EnvMarker+"=1")
	cmd.SysProcAttr = sysProcAttr(os.Geteuid(), os.Getegid())
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("%w: start %s in a new network namespace: %w", ErrUnavailable, exe, err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if code < 0 { // killed by a signal
			code = 1
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
		}
		return true, &ExitError{Code: code}
	default:
		return true, fmt.Errorf("netns: wait for %s: %w", exe, err)
	}
}

// sysProcAttr is the child's namespaces: a new network namespace, and for
// a caller that is not root a user namespace mapping uid and gid to
// themselves with CAP_NET_ADMIN kept across exec (ambient). Pdeathsig
// stops the child if this process dies.
func sysProcAttr(uid, gid int) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if uid != 0 {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		a.AmbientCaps = []uintptr{unix.CAP_NET_ADMIN}
	}
	return a
}

// LoopbackUp sets the flag IFF_UP on "lo" (SIOCSIFFLAGS, netdevice(7)): a
// new network namespace starts with its loopback down, and with it every
// 127/8 address. Errors: the socket or either ioctl failed (wrapped; EPERM
// without CAP_NET_ADMIN in the namespace).
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: socket: %w", err)
	}
	defer func() { _ = unix.Close(fd) }()
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netns: read the flags of lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("netns: set lo up: %w", err)
	}
	return nil
}

// Enter puts the caller's work in a private network namespace. Inside one
// already (Inside: a test binary under Main, or a program Isolate re-ran)
// it brings the loopback up and returns (false, nil): go on here. Outside
// it runs this program again there (Isolate) and returns (true, nil) or
// (true, the child's *ExitError or wait error): the caller is done. Where
// no namespace can be created it says so on stderr and returns (false,
// nil): go on here, on the host's loopback. Errors: LoopbackUp's (false),
// Isolate's once the child ran (true).
func Enter(ctx context.Context, stdout, stderr io.Writer) (done bool, err error) {
	if Inside() {
		return false, LoopbackUp()
	}
	ran, err := Isolate(ctx, stdout, stderr)
	if ran {
		return true, err
	}
	_, _ = fmt.Fprintf(stderr, "netns: %v; running on the host's loopback instead\n", err)
	return false, nil
}

// Runner is *testing.M (netns does not import testing).
type Runner interface{ Run() int }

// Main is the TestMain of a package whose tests use loopback addresses
// other than 127.0.0.1: it runs the test binary again in a private network
// namespace and exits with its status. Inside, it brings the loopback up
// and runs the tests. Where no namespace can be created it says so on
// stderr and runs the tests in place (on the host's loopback). SIGINT is
// left to the child (a terminal sends it to both); SIGTERM is forwarded.
func Main(m Runner) {
	if !Inside() {
		signal.Ignore(os.Interrupt)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	done, err := Enter(ctx, os.Stdout, os.Stderr)
	stop()
	var ee *ExitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.Code)
	case err != nil:
		fmt.Fprintf(os.Stderr, "netns: %v\n", err)
		os.Exit(2)
	case done:
		os.Exit(0)
	}
	signal.Reset(os.Interrupt)
	os.Exit(m.Run())
}
