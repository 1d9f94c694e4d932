package chartrepo

import "testing"

// Serve packages the test chart at the given versions into a temporary folder and serves it
// until the test ends.
func Serve(t testing.TB, charts ...Chart) *Repo {
	t.Helper()
	dir := t.TempDir()
	if err := Build(dir, charts...); err != nil {
		t.Fatalf("build chart repository: %v", err)
	}
	return ServeDir(t, dir)
}

// ServeDir serves an existing folder of packaged charts until the test ends.
func ServeDir(t testing.TB, dir string) *Repo {
	t.Helper()
	r, err := New(dir)
	if err != nil {
		t.Fatalf("serve chart repository: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}
