// Package github is the action's only door to the GitHub API: it fetches the
// CHANGELOG and release bodies, reads release asset digests for the pachctl
// installer, and keeps one sticky comment per release on the pull request.
// It never talks to the cluster.
package github

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v89/github"
)

// DefaultAPIURL and DefaultServerURL are github.com's; GitHub Enterprise
// Server runners set GITHUB_API_URL and GITHUB_SERVER_URL to their own.
const (
	DefaultAPIURL    = "https://api.github.com"
	DefaultServerURL = "https://github.com"
)

// Options configures a Client.
type Options struct {
	// Token is optional: public repositories can be read without one, at a
	// much lower rate limit.
	Token string
	// APIURL is the REST API root, as GITHUB_API_URL gives it
	// (`https://api.github.com`, `https://ghes.example.com/api/v3`).
	APIURL string
	// ServerURL is the web root, as GITHUB_SERVER_URL gives it; used for
	// links to release pages.
	ServerURL string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// Retry bounds the retries of a failed call; the zero value is the
	// default policy.
	Retry Retry
}

// Client wraps go-github with the few operations the action needs.
type Client struct {
	api       *gh.Client
	serverURL string
	policy    Retry

	// releases keeps, per repository, the release list last fetched by
	// ListReleases: it already holds every release's assets and digests,
	// so the pachctl digest of a run that listed releases for its notes
	// costs no second call. One run, one client: the list does not go
	// stale in a way that matters.
	mu       sync.Mutex
	releases map[string][]Release
	// identity is the token's login once Identity has asked.
	identity string
	token    string
}

// OptionsFromEnv reads GITHUB_API_URL and GITHUB_SERVER_URL with getenv.
func OptionsFromEnv(token string, getenv func(string) string) Options {
	return Options{Token: token, APIURL: getenv("GITHUB_API_URL"), ServerURL: getenv("GITHUB_SERVER_URL")}
}

// NewClient builds a client. The API URL is used exactly as given (plus a
// trailing slash), rather than through go-github's WithEnterpriseURLs, which
// guesses an `/api/v3/` suffix: GITHUB_API_URL is already the full root.
func NewClient(opts Options) (*Client, error) {
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	apiURL := opts.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	base, err := parseRoot(apiURL)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_API_URL %q: %w", apiURL, err)
	}
	server := opts.ServerURL
	if server == "" {
		server = DefaultServerURL
	}
	if _, err := parseRoot(server); err != nil {
		return nil, fmt.Errorf("GITHUB_SERVER_URL %q: %w", server, err)
	}
	root := base.String()
	clientOpts := []gh.ClientOptionsFunc{gh.WithHTTPClient(hc), gh.WithURLs(&root, &root)}
	if opts.Token != "" {
		clientOpts = append(clientOpts, gh.WithAuthToken(opts.Token))
	}
	api, err := gh.NewClient(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("GitHub API client: %w", err)
	}
	return &Client{api: api, serverURL: strings.TrimRight(server, "/"), policy: opts.Retry.withDefaults(), token: opts.Token}, nil
}

func parseRoot(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("want an http(s) URL with a host")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// ServerURL is the web root links should point to.
func (c *Client) ServerURL() string { return c.serverURL }

// ReleaseURL is the web page of the release tagged tag.
func (c *Client) ReleaseURL(repo, tag string) string {
	return c.serverURL + "/" + repo + "/releases/tag/" + url.PathEscape(tag)
}

func splitRepo(repo string) (string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("repository %q: want owner/name", repo)
	}
	return owner, name, nil
}

// FetchFile returns the content of path in repo's default branch, with one
// call to the contents API. A missing file or repository is an *Error whose
// Kind is KindNotFound (errors.Is(err, fs.ErrNotExist) holds).
func (c *Client) FetchFile(ctx context.Context, repo, path string) ([]byte, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("fetch %s from %s", path, repo)
	var file *gh.RepositoryContent
	err = c.retry(ctx, func() error {
		var resp *gh.Response
		var err error
		file, _, resp, err = c.api.Repositories.GetContents(ctx, owner, name, path, nil)
		return wrap(op, resp, err)
	})
	if err != nil {
		return nil, err
	}
	if file == nil {
		return nil, fmt.Errorf("%s: is a directory", op)
	}
	if file.GetEncoding() == "none" {
		// Files over 1 MB come without content; the raw download is the
		// documented way to get them.
		return c.download(ctx, op, owner, name, path)
	}
	content, err := file.GetContent()
	if err != nil {
		return nil, fmt.Errorf("%s: decode content: %w", op, err)
	}
	return []byte(content), nil
}

func (c *Client) download(ctx context.Context, op, owner, name, path string) ([]byte, error) {
	var b []byte
	err := c.retry(ctx, func() error {
		rc, resp, err := c.api.Repositories.DownloadContents(ctx, owner, name, path, nil)
		if err != nil {
			return wrap(op, resp, err)
		}
		defer rc.Close()
		if b, err = io.ReadAll(io.LimitReader(rc, 32<<20)); err != nil {
			return &Error{Op: op + ": read", Kind: KindNetwork, Err: err}
		}
		return nil
	})
	return b, err
}

// Release is the part of a GitHub release the action uses.
type Release struct {
	Tag        string
	Name       string
	Body       string
	Draft      bool
	Prerelease bool
	URL        string
	Assets     []Asset
}

// Asset is the part of a release asset the action uses. Digest is what the
// API reports (`sha256:<hex>`), empty for assets uploaded before GitHub
// computed digests.
type Asset struct {
	Name   string
	Digest string
}

// maxReleasePages bounds ListReleases: releases come newest first, so the
// versions an upgrade crosses are nearly always on the first pages, and an
// unauthenticated run has only 60 calls an hour.
const maxReleasePages = 5

// ListReleases returns up to 500 of repo's releases, newest first.
func (c *Client) ListReleases(ctx context.Context, repo string) ([]Release, error) {
	return c.ListReleasesUntil(ctx, repo, nil)
}

// ListReleasesUntil is ListReleases that stops paging as soon as
// done(the releases listed so far) holds: a repository with more than a
// page of releases then costs one call when the versions wanted are on the
// first page, as an upgrade's nearly always are. done may be nil.
func (c *Client) ListReleasesUntil(ctx context.Context, repo string, done func([]Release) bool) ([]Release, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var out []Release
	opts := &gh.ListOptions{PerPage: 100}
	for page := 0; page < maxReleasePages; page++ {
		var rs []*gh.RepositoryRelease
		var resp *gh.Response
		err := c.retry(ctx, func() error {
			var err error
			rs, resp, err = c.api.Repositories.ListReleases(ctx, owner, name, opts)
			return wrap("list releases of "+repo, resp, err)
		})
		if err != nil {
			return out, err
		}
		for _, r := range rs {
			out = append(out, toRelease(r))
		}
		if resp.NextPage == 0 || done != nil && done(out) {
			break
		}
		opts.Page = resp.NextPage
	}
	c.keepReleases(repo, out)
	return out, nil
}

func (c *Client) keepReleases(repo string, rs []Release) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.releases == nil {
		c.releases = map[string][]Release{}
	}
	c.releases[repo] = rs
}

// keptRelease returns the published release tagged tag from the list
// ListReleases last fetched for repo, if it holds it. Drafts are left out,
// as the get-release-by-tag endpoint leaves them out.
func (c *Client) keptRelease(repo, tag string) (Release, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.releases[repo] {
		if r.Tag == tag && !r.Draft {
			return r, true
		}
	}
	return Release{}, false
}

// GetRelease returns the release tagged tag.
func (c *Client) GetRelease(ctx context.Context, repo, tag string) (Release, error) {
	r, err := c.getRelease(ctx, repo, tag)
	if err != nil {
		return Release{}, err
	}
	return toRelease(r), nil
}

func (c *Client) getRelease(ctx context.Context, repo, tag string) (*gh.RepositoryRelease, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var r *gh.RepositoryRelease
	err = c.retry(ctx, func() error {
		var resp *gh.Response
		var err error
		r, resp, err = c.api.Repositories.GetReleaseByTag(ctx, owner, name, tag)
		return wrap(fmt.Sprintf("get release %s of %s", tag, repo), resp, err)
	})
	return r, err
}

func toRelease(r *gh.RepositoryRelease) Release {
	out := Release{
		Tag: r.GetTagName(), Name: r.GetName(), Body: r.GetBody(),
		Draft: r.GetDraft(), Prerelease: r.GetPrerelease(), URL: r.GetHTMLURL(),
	}
	for _, a := range r.Assets {
		out.Assets = append(out.Assets, Asset{Name: a.GetName(), Digest: a.GetDigest()})
	}
	return out
}

// ReleaseAssetDigest returns the digest (`sha256:<hex>`) that the releases
// API reports for the asset named assetName of the release tagged tag.
// Pachyderm publishes no checksum file, so this is what a pachctl download is
// verified against. Assets uploaded before GitHub computed digests have none:
// that is an error of Kind KindNoDigest, not an empty string.
func (c *Client) ReleaseAssetDigest(ctx context.Context, repo, tag, assetName string) (string, error) {
	op := fmt.Sprintf("digest of %s in release %s of %s", assetName, tag, repo)
	// The release list fetched for the notes already has the asset: no
	// second call. An asset missing from it is asked for again, in case it
	// was uploaded since.
	if r, ok := c.keptRelease(repo, tag); ok {
		if d, err := assetDigest(op, r.Assets, assetName); !IsKind(err, KindNotFound) {
			return d, err
		}
	}
	r, err := c.GetRelease(ctx, repo, tag)
	if err != nil {
		return "", err
	}
	return assetDigest(op, r.Assets, assetName)
}

// assetDigest finds assetName among assets and checks its digest.
func assetDigest(op string, assets []Asset, assetName string) (string, error) {
	for _, a := range assets {
		if a.Name != assetName {
			continue
		}
		algo, sum, ok := strings.Cut(a.Digest, ":")
		if _, herr := hex.DecodeString(sum); !ok || algo != "sha256" || len(sum) != 64 || herr != nil {
			return "", &Error{Op: op, Kind: KindNoDigest, Err: fmt.Errorf("release API reports digest %q, want sha256:<64 hex>", a.Digest)}
		}
		return "sha256:" + strings.ToLower(sum), nil
	}
	return "", &Error{Op: op, Kind: KindNotFound, Status: http.StatusNotFound, Err: errors.New("no such asset")}
}
