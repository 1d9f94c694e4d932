package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Identity returns the login the token acts as: what the author of a
// comment or pull request it wrote shows. A user's token (a PAT) answers
// GET /user. A GitHub App installation token, GITHUB_TOKEN among them, may
// not call it (403); GraphQL's viewer then names the App's bot,
// `<slug>[bot]` as REST shows it (the suffix is added should an answer lack
// it, so a person named like the App never matches). It is asked once per
// client, and only when
// something must be told apart from other people's writing, so a run that
// finds nothing to match makes no call.
func (c *Client) Identity(ctx context.Context) (string, error) {
	c.mu.Lock()
	login := c.identity
	c.mu.Unlock()
	if login != "" {
		return login, nil
	}
	login, err := c.lookupIdentity(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.identity = login
	c.mu.Unlock()
	return login, nil
}

func (c *Client) lookupIdentity(ctx context.Context) (string, error) {
	// GitHub's token formats say which call answers: `ghs_` is an App
	// installation token (GITHUB_TOKEN is one), for which GET /user is
	// always refused, so GraphQL is asked directly: one call, not two.
	if strings.HasPrefix(c.token, "ghs_") {
		return c.appIdentity(ctx, nil)
	}
	var login string
	err := c.retry(ctx, func() error {
		u, resp, err := c.api.Users.Get(ctx, "")
		if err != nil {
			return wrap("get the token's own user (GET /user)", resp, err)
		}
		login = u.GetLogin()
		return nil
	})
	if err == nil {
		if login == "" {
			return "", errors.New("get the token's own user (GET /user): no login in the answer")
		}
		return login, nil
	}
	if !IsKind(err, KindForbidden) {
		return "", err
	}
	return c.appIdentity(ctx, err)
}

// appIdentity is the `[bot]` login of the App whose installation token the
// client holds; refused is GET /user's answer, when it was asked.
func (c *Client) appIdentity(ctx context.Context, refused error) (string, error) {
	bot, err := c.viewerLogin(ctx)
	if err != nil {
		if refused != nil {
			return "", fmt.Errorf("learn whom github-token acts as: GET /user refused it (an App installation token) and %w", err)
		}
		return "", fmt.Errorf("learn whom github-token (an App installation token) acts as: %w", err)
	}
	if !strings.HasSuffix(bot, "[bot]") {
		bot += "[bot]"
	}
	return bot, nil
}

// viewerLogin asks GraphQL `{ viewer { login } }`. Its endpoint is beside
// the REST root: /graphql on github.com, /api/graphql on GitHub Enterprise
// Server, whose REST root is /api/v3.
func (c *Client) viewerLogin(ctx context.Context) (string, error) {
	root := c.api.BaseURL()
	endpoint := root + "graphql"
	if strings.HasSuffix(root, "/api/v3/") {
		endpoint = strings.TrimSuffix(root, "v3/") + "graphql"
	}
	var out struct {
		Data struct {
			Viewer struct {
				Login string `json:"login"`
			} `json:"viewer"`
		} `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	err := c.retry(ctx, func() error {
		req, err := c.api.NewRequest(ctx, http.MethodPost, endpoint, map[string]string{"query": "query { viewer { login } }"})
		if err != nil {
			return fmt.Errorf("GraphQL viewer: %w", err)
		}
		r, err := c.api.Do(req, &out)
		return wrap("GraphQL viewer", r, err)
	})
	if err != nil {
		return "", err
	}
	if len(out.Errors) > 0 {
		return "", fmt.Errorf("GraphQL viewer: %s", out.Errors[0].Message)
	}
	if out.Data.Viewer.Login == "" {
		return "", errors.New("GraphQL viewer: no login in the answer")
	}
	return out.Data.Viewer.Login, nil
}

// sameLogin compares logins as GitHub does, ignoring case.
func sameLogin(a, b string) bool { return a != "" && strings.EqualFold(a, b) }
