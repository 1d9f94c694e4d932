package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unicode/utf8"
)

// MaxInputFile is the largest file an input may name. Values files and
// changelogs are kilobytes; the limit stops /dev/zero or a runaway file from
// filling memory.
const MaxInputFile = 4 << 20

// ReadFile reads the file named by input: a regular text file of at most
// MaxInputFile bytes, read in chunks so that a cancelled ctx (SIGTERM) stops
// it. Devices, FIFOs and directories are refused without reading: a FIFO
// would block forever, /dev/zero never ends. Every error is an *InputError
// naming the input.
func ReadFile(ctx context.Context, input, path string) ([]byte, error) {
	const accepted = "the path of a regular text file of at most 4 MiB"
	bad := func(problem string) error {
		return &InputError{Input: input, Value: path, Problem: problem, Accepted: accepted}
	}
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer, out of reach of ctx. It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, bad("file does not exist")
		case errors.Is(err, os.ErrPermission):
			return nil, bad("file cannot be read: permission denied")
		}
		return nil, bad("file cannot be opened")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, bad("file cannot be read")
	}
	if !fi.Mode().IsRegular() {
		return nil, bad(fmt.Sprintf("is not a regular file (%s)", fileKind(fi.Mode())))
	}
	if fi.Size() > MaxInputFile {
		return nil, bad(fmt.Sprintf("is larger than 4 MiB (%d bytes)", fi.Size()))
	}
	var data []byte
	buf := make([]byte, 64<<10)
	for {
		if ctx.Err() != nil {
			return nil, bad("reading was interrupted")
		}
		n, err := f.Read(buf)
		data = append(data, buf[:n]...)
		if len(data) > MaxInputFile {
			// The file grew after Stat.
			return nil, bad("is larger than 4 MiB")
		}
		if errors.Is(err, io.EOF) {
			if !isText(data) {
				return nil, bad("is not text (it holds binary data)")
			}
			return data, nil
		}
		if err != nil {
			return nil, bad("file cannot be read")
		}
	}
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

// isText reports whether data is UTF-8 text: no NUL byte (which no text
// format we read holds), no invalid sequence.
func isText(data []byte) bool {
	return bytes.IndexByte(data, 0) < 0 && utf8.Valid(data)
}
