package proc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

type procStat struct {
	state     byte
	pgrp      int
	startTime uint64
}

// readStat parses /proc/<pid>/stat (proc(5)): the command name is in
// parentheses and may contain spaces, so fields are counted after the last ')'.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state), fields[2] field 5 (pgrp); field 22
	// (starttime, clock ticks since boot) is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	pgrp, err := strconv.Atoi(fields[2])
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat pgrp: %w", pid, err)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/%d/stat starttime: %w", pid, err)
	}
	return procStat{state: fields[0][0], pgrp: pgrp, startTime: start}, nil
}

// alive: the PID exists and is neither a zombie (Z) nor dead (X).
func (s procStat) alive() bool { return s.state != 'Z' && s.state != 'X' }

// Cmdline returns the NUL-separated command line of pid (nil if unreadable).
func Cmdline(pid int) []byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil
	}
	return b
}

// HasArgs reports whether cmdline (NUL-separated, as Cmdline returns it)
// contains every one of args as a whole argument.
func HasArgs(cmdline []byte, args ...string) bool {
	for _, a := range args {
		if !bytes.Contains(append([]byte{0}, cmdline...), []byte("\x00"+a+"\x00")) {
			return false
		}
	}
	return true
}

// Find scans /proc for a live process (not this one) whose command line
// carries every one of args (e.g. "--name=m1", "--data-dir=/x/m1") and
// returns its Handle; false when there is none or /proc cannot be read.
func Find(args ...string) (Handle, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return Handle{}, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl := Cmdline(pid)
		if cl == nil || !HasArgs(cl, args...) {
			continue
		}
		if h, err := Identify(pid); err == nil && Running(h) {
			return h, true
		}
	}
	return Handle{}, false
}

// Tail returns up to the last n lines of the file at path ("" if unreadable).
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
