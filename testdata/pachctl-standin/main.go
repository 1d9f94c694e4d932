// Command pachctl-standin behaves like pachctl for `version` and the few health
// and quiesce commands an upgrade runs (`inspect cluster`, `enterprise
// get-state|pause|unpause|pause-status`, `list pipeline [--raw]`), so the
// action's steps can be tested without the real binary, which cannot be built
// here. It calls pachd's real gRPC API at PACHD_ADDRESS (versionpb_v2,
// admin_v2, enterprise_v2, pps_v2).
//
// Its own version is set at build time:
//
//	go build -ldflags "-X main.version=2.11.6" ./testdata/pachctl-standin
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/versionpb"
)

// version is the client version this binary reports; set with -ldflags -X.
var version = "0.0.0"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] != "version" {
		return runHealth(ctx, args, out)
	}
	if len(args) == 0 {
		return errors.New("this pachctl stand-in implements version, inspect cluster, enterprise and list pipeline")
	}
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	clientOnly := fs.Bool("client-only", false, "only print the pachctl version")
	raw := fs.Bool("raw", false, "print raw version messages")
	var output string
	fs.StringVar(&output, "output", "json", "raw output format (json)")
	fs.StringVar(&output, "o", "json", "raw output format (json)")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for pachd")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *raw && output != "json" {
		return fmt.Errorf("unsupported output format %q", output)
	}
	client, err := versionpb.Parse(version)
	if err != nil {
		return fmt.Errorf("client version: %w", err)
	}
	client.GoVersion, client.Platform = "go1.26", "linux"

	if *clientOnly && !*raw {
		fmt.Fprintln(out, client.String())
		return nil
	}
	if *raw {
		if err := printJSON(out, client); err != nil {
			return err
		}
	}
	var server versionpb.Version
	if !*clientOnly {
		if err := ensureConfig(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if ctx, err = withSessionToken(ctx); err != nil {
			return err
		}
		server, err = pachdVersion(ctx)
		if err != nil {
			return err
		}
	}
	if *raw {
		if *clientOnly {
			return nil
		}
		return printJSON(out, server)
	}
	w := tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
	fmt.Fprintf(w, "COMPONENT\tVERSION\t\n")
	fmt.Fprintf(w, "pachctl\t%s\t\n", client)
	fmt.Fprintf(w, "pachd\t%s\t\n", server)
	return w.Flush()
}

func printJSON(out io.Writer, v versionpb.Version) error {
	m, err := v.Message()
	if err != nil {
		return err
	}
	b, err := versionpb.MarshalJSON(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// ensureConfig writes a config file where pachctl keeps it ($PACH_CONFIG, or
// ~/.pachyderm/config.json) when there is none, as the real pachctl does
// ("No config detected ... Generating new config") before it talks to pachd.
func ensureConfig() error {
	path, err := configPath()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	fmt.Fprintf(os.Stderr, "No config detected at %q. Generating new config...\n", path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(`{"user_id":"0000","v2":{"active_context":"default","contexts":{"default":{}}}}`+"\n"), 0o644)
}

// configPath is where pachctl keeps its config: $PACH_CONFIG, or
// ~/.pachyderm/config.json.
func configPath() (string, error) {
	if path := os.Getenv("PACH_CONFIG"); path != "" {
		return path, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".pachyderm", "config.json"), nil
}

// withSessionToken adds the active context's session_token, as pachctl
// does, to every call as gRPC metadata "authn-token" (Pachyderm's
// auth.ContextTokenKey). A context with no token sends none.
func withSessionToken(ctx context.Context) (context.Context, error) {
	path, err := configPath()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read config at %q: %w", path, err)
	}
	var cfg struct {
		V2 struct {
			ActiveContext string `json:"active_context"`
			Contexts      map[string]struct {
				SessionToken string `json:"session_token"`
			} `json:"contexts"`
		} `json:"v2"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("could not parse config json at %q: %w", path, err)
	}
	if t := cfg.V2.Contexts[cfg.V2.ActiveContext].SessionToken; t != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authn-token", t)
	}
	return ctx, nil
}

func pachdVersion(ctx context.Context) (versionpb.Version, error) {
	addr := os.Getenv("PACHD_ADDRESS")
	if addr == "" {
		return versionpb.Version{}, errors.New("no pachd address: set PACHD_ADDRESS")
	}
	target := addr
	for _, scheme := range []string{"grpc://", "http://"} {
		target = strings.TrimPrefix(target, scheme)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return versionpb.Version{}, fmt.Errorf("connect to pachd at %s: %w", addr, err)
	}
	defer conn.Close()
	reply, err := versionpb.NewMessage()
	if err != nil {
		return versionpb.Version{}, err
	}
	if err := conn.Invoke(ctx, versionpb.FullMethod, &emptypb.Empty{}, reply); err != nil {
		return versionpb.Version{}, fmt.Errorf("could not get pachd version from %s: %w", addr, err)
	}
	return versionpb.FromMessage(reply), nil
}
