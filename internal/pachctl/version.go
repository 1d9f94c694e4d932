package pachctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Versions are what pachctl reports for itself and for pachd.
type Versions struct {
	Pachctl string
	Pachd   string
}

// clientVersion runs `pachctl version --client-only`, which prints the bare
// version (e.g. 2.11.6) without asking pachd.
func clientVersion(ctx context.Context, pachctl string) (string, error) {
	out, err := Conn{Path: pachctl}.run(ctx, "version", "--client-only")
	if err != nil {
		return "", err
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return "", fmt.Errorf("`pachctl version --client-only` printed nothing")
	}
	return normalize(lines[len(lines)-1]), nil
}

// Verify asks pachctl for its own and pachd's version, with c's pachd
// (PACHD_ADDRESS, e.g. grpc://127.0.0.1:30650) and token, as every other
// call to pachd. While pachd does not answer, it retries until timeout.
// Both versions must equal target.
func Verify(ctx context.Context, c Conn, target string, timeout time.Duration) (Versions, error) {
	target = normalize(target)
	if c.Address == "" {
		return Versions{}, errors.New("verify versions: no pachd address")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 500 * time.Millisecond
	for {
		v, err := queryVersions(ctx, c)
		if err == nil {
			if v.Pachctl != target || v.Pachd != target {
				return v, fmt.Errorf("%w: pachctl reports %s and pachd reports %s, want %s for both",
					ErrVersionMismatch, v.Pachctl, v.Pachd, target)
			}
			return v, nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("pachd at %s did not report its version within %s: %w", c.Address, timeout, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// queryVersions prefers the machine-readable `--raw -o json` output and falls
// back to the COMPONENT/VERSION table of plain `pachctl version` when the
// output is not JSON (e.g. a pachctl without -o).
func queryVersions(ctx context.Context, c Conn) (Versions, error) {
	out, err := c.run(ctx, "version", "--raw", "-o", "json")
	if msgs, perr := parseRawJSON(out); perr == nil {
		switch {
		case len(msgs) == 2:
			return Versions{Pachctl: msgs[0], Pachd: msgs[1]}, nil
		case err != nil:
			// The client's message alone: pachd did not answer (yet).
			return Versions{Pachctl: msgs[0]}, err
		default:
			return Versions{}, permanentError{fmt.Errorf("`pachctl version --raw -o json` printed %d version messages, want 2", len(msgs))}
		}
	}
	out, err = c.run(ctx, "version")
	if err != nil {
		return Versions{}, err
	}
	v, err := parseTable(out)
	if err != nil {
		return v, permanentError{err}
	}
	return v, nil
}

// rawVersion is the part of pachd's versionpb_v2.Version that makes up the
// version string; protojson omits zero values, which decode as zero here.
type rawVersion struct {
	Major      uint32 `json:"major"`
	Minor      uint32 `json:"minor"`
	Micro      uint32 `json:"micro"`
	Additional string `json:"additional"`
}

func (r rawVersion) String() string {
	return fmt.Sprintf("%d.%d.%d%s", r.Major, r.Minor, r.Micro, r.Additional)
}

// parseRawJSON reads the stream of JSON version messages `pachctl version
// --raw -o json` prints (client first, then server), returning those it could
// read and an error if the output is not such a stream.
func parseRawJSON(out []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	var vs []string
	for {
		var r rawVersion
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			if len(vs) == 0 {
				return nil, errors.New("no version message")
			}
			return vs, nil
		}
		if err != nil {
			return vs, fmt.Errorf("parse pachctl's JSON version output: %w", err)
		}
		vs = append(vs, normalize(r.String()))
	}
}

// parseTable reads `pachctl version`'s table:
//
//	COMPONENT           VERSION
//	pachctl             2.11.6
//	pachd               2.11.6
func parseTable(out []byte) (Versions, error) {
	var v Versions
	header := false
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "COMPONENT" && f[1] == "VERSION":
			header = true
		case len(f) == 2 && header && f[0] == "pachctl":
			v.Pachctl = normalize(f[1])
		case len(f) == 2 && header && f[0] == "pachd":
			v.Pachd = normalize(f[1])
		}
	}
	if v.Pachctl == "" || v.Pachd == "" {
		return v, fmt.Errorf("`pachctl version` printed no COMPONENT/VERSION table with pachctl and pachd rows: %q", truncate(out))
	}
	return v, nil
}

func normalize(v string) string { return strings.TrimPrefix(strings.TrimSpace(v), "v") }
