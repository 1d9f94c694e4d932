package helmrelease

import "context"

// MarkFailed records revision as failed with description: what a run that
// leaves a revision it could not make work, and must not roll back, says of
// it, so that `helm history` and a later run do not take it for a good one.
func (c *Client) MarkFailed(ctx context.Context, name string, revision int, description string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.markFailed(name, revision, description)
}
