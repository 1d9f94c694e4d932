package pachctl

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// PauseStatus is `pachctl enterprise pause-status`: "paused", "unpaused"
// or "partially paused".
func PauseStatus(ctx context.Context, c Conn) (string, error) {
	out, err := c.run(ctx, "enterprise", "pause-status")
	if err != nil {
		return "", err
	}
	return strings.ToLower(strings.TrimSpace(string(out))), nil
}

// Pause runs `pachctl enterprise pause` and waits until pause-status says
// paused: pachd restarts into its paused mode, and until then it writes.
func Pause(ctx context.Context, c Conn) error { return setPause(ctx, c, "pause", "paused") }

// Unpause runs `pachctl enterprise unpause` and waits until pause-status
// says unpaused.
func Unpause(ctx context.Context, c Conn) error { return setPause(ctx, c, "unpause", "unpaused") }

// setPause runs `pachctl enterprise <verb>` and waits for pause-status want.
func setPause(ctx context.Context, c Conn, verb, want string) error {
	if _, err := c.run(ctx, "enterprise", verb); err != nil {
		return err
	}
	return waitPauseStatus(ctx, c, want)
}

func waitPauseStatus(ctx context.Context, c Conn, want string) error {
	var last string
	for {
		s, err := PauseStatus(ctx, c)
		if err == nil && s == want {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = "pause-status " + s
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pachd not %s: %s: %w", want, last, context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
