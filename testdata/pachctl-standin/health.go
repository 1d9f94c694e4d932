package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/pachpb"
)

// runHealth runs the commands beyond `version`, with pachctl's words for their output.
func runHealth(ctx context.Context, args []string, out io.Writer) error {
	cmd := strings.Join(args[:min(2, len(args))], " ")
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	raw := fs.Bool("raw", false, "print raw messages (JSON)")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for pachd")
	if len(args) < 2 {
		return fmt.Errorf("unknown command %q for this pachctl stand-in", cmd)
	}
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if err := ensureConfig(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ctx, err := withSessionToken(ctx)
	if err != nil {
		return err
	}
	conn, err := dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	switch cmd {
	case "inspect cluster":
		ci, err := pachpb.InspectCluster(ctx, conn)
		if err != nil {
			return err
		}
		if *raw {
			m, _ := ci.Message()
			return printProto(out, m)
		}
		fmt.Fprintf(out, "Cluster ID: %s\nDeployment ID: %s\n", ci.ID, ci.DeploymentID)
		return nil
	case "enterprise get-state":
		s, err := pachpb.GetState(ctx, conn)
		if err != nil {
			return err
		}
		if s == pachpb.EnterpriseNone {
			fmt.Fprintln(out, "No Pachyderm Enterprise token was found")
			return nil
		}
		fmt.Fprintf(out, "Pachyderm Enterprise token state: %s\n", s)
		return nil
	case "enterprise pause":
		return pachpb.Pause(ctx, conn)
	case "enterprise unpause":
		return pachpb.Unpause(ctx, conn)
	case "enterprise pause-status":
		s, err := pachpb.GetPauseStatus(ctx, conn)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, strings.ToLower(strings.ReplaceAll(s.String(), "_", " ")))
		return nil
	case "list pipeline":
		pipes, err := pachpb.ListPipelines(ctx, conn)
		if err != nil {
			return err
		}
		if *raw {
			for _, p := range pipes {
				m, err := p.Message()
				if err != nil {
					return err
				}
				if err := printProto(out, m); err != nil {
					return err
				}
			}
			return nil
		}
		w := tabwriter.NewWriter(out, 0, 1, 3, ' ', 0)
		fmt.Fprintln(w, "PROJECT\tNAME\tVERSION\tSTATE\t")
		for _, p := range pipes {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t\n", p.Project, p.Name, p.Version, p.State.Short())
		}
		return w.Flush()
	}
	return fmt.Errorf("unknown command %q for this pachctl stand-in", cmd)
}

// printProto prints one message as pachctl's --raw does: protojson, indented.
func printProto(out io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

func dial() (*grpc.ClientConn, error) {
	addr := os.Getenv("PACHD_ADDRESS")
	if addr == "" {
		return nil, errors.New("no pachd address: set PACHD_ADDRESS")
	}
	target := addr
	for _, scheme := range []string{"grpc://", "http://"} {
		target = strings.TrimPrefix(target, scheme)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connect to pachd at %s: %w", addr, err)
	}
	return conn, nil
}
