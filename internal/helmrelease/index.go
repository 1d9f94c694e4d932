package helmrelease

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"

	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/pach-upgrade/pach-upgrade/internal/redact"
)

// IndexURL is where the index of the repository at repoURL is read from, as
// errors may show it (credentials left out).
func IndexURL(repoURL string) string {
	if u, err := url.Parse(repoURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		if idx, err := repo.ResolveReferenceURL(repoURL, "index.yaml"); err == nil {
			return redact.URL(idx)
		}
		return redact.URL(repoURL)
	}
	return filepath.Join(repoURL, "index.yaml")
}

// FetchIndex returns the raw index.yaml of a chart repository: an http(s)
// URL or a local folder, as PullChart accepts. Target resolution reads it
// before any chart is pulled.
func FetchIndex(ctx context.Context, repoURL string, opts PullOptions) ([]byte, error) {
	if u, err := url.Parse(repoURL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		client := opts.httpClient()
		idxURL, err := repo.ResolveReferenceURL(repoURL, "index.yaml")
		if err != nil {
			return nil, fmt.Errorf("chart repository %s: %w", redact.URL(repoURL), err)
		}
		data, err := httpGet(ctx, client, idxURL)
		if err != nil {
			return nil, fmt.Errorf("fetch chart repository index: %w", err)
		}
		return data, nil
	}
	base, err := filepath.Abs(repoURL)
	if err != nil {
		return nil, fmt.Errorf("chart repository %s: %w", repoURL, err)
	}
	data, err := readLocal(base, "index.yaml")
	if err != nil {
		return nil, fmt.Errorf("read chart repository index: %w", err)
	}
	return data, nil
}
