package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// devMknod makes a device node in /dev and in /tmp and uses it.
func devMknod(args []string) {
	if len(args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: probe dev-mknod b|c MAJOR MINOR [MARKER]")
		os.Exit(2)
	}
	kind := map[string]uint32{"b": unix.S_IFBLK, "c": unix.S_IFCHR}[args[0]]
	major, err1 := strconv.ParseUint(args[1], 10, 32)
	minor, err2 := strconv.ParseUint(args[2], 10, 32)
	if kind == 0 || err1 != nil || err2 != nil {
		fmt.Fprintf(os.Stderr, "probe: bad device %q\n", args)
		os.Exit(2)
	}
	marker := ""
	if len(args) > 3 {
		marker = args[3]
	}
	for _, dir := range []string{"/dev", "/tmp"} {
		p := filepath.Join(dir, fmt.Sprintf("strata-probe-%s-%d-%d", args[0], major, minor))
		os.Remove(p)
		err := unix.Mknod(p, kind|0o666, int(unix.Mkdev(uint32(major), uint32(minor))))
		tried("mknod", p, err, "")
		if err != nil {
			report("dev-read", p, "denied", "no node: "+errText(err))
			report("dev-write", p, "denied", "no node: "+errText(err))
			continue
		}
		useDevice(p, marker)
		os.Remove(p)
	}
}

// devOpen uses existing device nodes (from a hostile layer).
func devOpen(args []string) {
	fs := flag.NewFlagSet("dev-open", flag.ExitOnError)
	marker := fs.String("write", "", "marker to write to block devices opened for writing")
	fs.Parse(args)
	for _, p := range fs.Args() {
		useDevice(p, *marker)
	}
}

// useDevice reads a device and opens it for writing; a block device
// opened for writing gets marker written at offset 0 (the test checks
// the device's backing file).
func useDevice(path, marker string) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		report("dev-read", path, "denied", errText(err))
	} else {
		b := make([]byte, 32)
		n, rerr := f.Read(b)
		f.Close()
		detail := fmt.Sprintf("opened, read %q", b[:max(n, 0)])
		if rerr != nil {
			detail = "opened, read: " + errText(rerr)
		}
		report("dev-read", path, "ok", detail)
	}
	f, err = os.OpenFile(path, os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		report("dev-write", path, "denied", errText(err))
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	if marker == "" || fi == nil || fi.Mode()&os.ModeCharDevice != 0 {
		report("dev-write", path, "ok", "opened for writing")
		return
	}
	n, err := f.WriteAt([]byte(marker), 0)
	err = errors.Join(err, f.Sync())
	if err != nil {
		report("dev-write", path, "ok", fmt.Sprintf("opened for writing, wrote %d bytes: %s", n, errText(err)))
		return
	}
	report("dev-write", path, "ok", fmt.Sprintf("opened for writing, wrote %d bytes", n))
}
