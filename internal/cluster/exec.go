package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// ExecError is a command that ran in the pod and exited non-zero; Stderr is
// the tail of what it wrote there, to name the cause in the error.
type ExecError struct {
	Pod, Container string
	Command        string
	ExitCode       int
	Stderr         string
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("%s in pod %s (container %s) exited with code %d", e.Command, e.Pod, e.Container, e.ExitCode)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// Exec runs argv in container of pod ns/pod, as `kubectl exec -i` does,
// streaming stdin (nil for none) to it and its output to stdout and stderr
// as they come: nothing is held in memory, so a dump of any size passes
// through. It speaks SPDY, and WebSocket to API servers that refuse SPDY.
// A non-zero exit is an *ExecError.
func (c *Client) Exec(ctx context.Context, ns, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(argv) == 0 {
		return errors.New("exec: no command")
	}
	req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: argv,
			Stdin: stdin != nil, Stdout: stdout != nil, Stderr: true,
		}, scheme.ParameterCodec)
	spdyExec, err := remotecommand.NewSPDYExecutor(c.cfg, http.MethodPost, req.URL())
	if err != nil {
		return fmt.Errorf("exec in pod %s/%s: %w", ns, pod, err)
	}
	wsExec, err := remotecommand.NewWebSocketExecutor(c.cfg, http.MethodGet, req.URL().String())
	if err != nil {
		return fmt.Errorf("exec in pod %s/%s: %w", ns, pod, err)
	}
	// SPDY first: it half-closes stdin at its end, which a command reading
	// a dump from stdin waits for, through every API server and kubelet
	// (the WebSocket protocol does so only from v5 on, end to end). Fall
	// back only when the upgrade itself was refused: by then nothing ran,
	// whereas re-running a restore that failed midway would not be safe.
	exec, err := remotecommand.NewFallbackExecutor(spdyExec, wsExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("exec in pod %s/%s: %w", ns, pod, err)
	}
	tail := &tailBuffer{max: 4096}
	var errw io.Writer = tail
	if stderr != nil {
		errw = io.MultiWriter(stderr, tail)
	}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: errw})
	if err == nil {
		return nil
	}
	var code utilexec.ExitError
	if errors.As(err, &code) && code.Exited() {
		return &ExecError{Pod: ns + "/" + pod, Container: container, Command: argv[0], ExitCode: code.ExitStatus(), Stderr: tail.String()}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("exec %s in pod %s/%s: %w", argv[0], ns, pod, context.Cause(ctx))
	}
	return fmt.Errorf("exec %s in pod %s/%s: %w", argv[0], ns, pod, err)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
