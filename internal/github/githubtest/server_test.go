package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, s *Server, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestContentsPayloadShape(t *testing.T) {
	s := NewServer(WithPathPrefix("/api/v3"))
	defer s.Close()
	content := strings.Repeat("0123456789", 20)
	s.SetFile("o/r", "docs/CHANGELOG.md", []byte(content))
	resp, b := get(t, s, s.APIURL+"/repos/o/r/contents/docs/CHANGELOG.md")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var p struct {
		Type, Encoding, Content, Path, Name string
		Size                                int
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "file" || p.Encoding != "base64" || p.Size != len(content) || p.Name != "CHANGELOG.md" || p.Path != "docs/CHANGELOG.md" {
		t.Fatalf("payload %+v", p)
	}
	if !strings.Contains(p.Content, "\n") {
		t.Error("content not wrapped in lines as GitHub does")
	}
	dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(p.Content, "\n", ""))
	if err != nil || string(dec) != content {
		t.Fatalf("decoded %q, %v", dec, err)
	}
	resp, _ = get(t, s, s.ServerURL+"/repos/o/r/contents/docs/CHANGELOG.md")
	if resp.StatusCode != 404 {
		t.Errorf("API served outside its prefix: %d", resp.StatusCode)
	}
}

func TestCommentsLinkHeader(t *testing.T) {
	s := NewServer()
	defer s.Close()
	for i := 0; i < 5; i++ {
		s.AddComment("o/r", 1, "u", "c")
	}
	resp, b := get(t, s, s.APIURL+"/repos/o/r/issues/1/comments?per_page=2&page=2")
	var cs []map[string]any
	if err := json.Unmarshal(b, &cs); err != nil || len(cs) != 2 {
		t.Fatalf("page 2: %d comments, %v", len(cs), err)
	}
	link := resp.Header.Get("Link")
	for _, want := range []string{`page=3&per_page=2>; rel="next"`, `page=3&per_page=2>; rel="last"`, `page=1&per_page=2>; rel="prev"`, `rel="first"`} {
		if !strings.Contains(link, want) {
			t.Errorf("Link %q lacks %q", link, want)
		}
	}
	resp, _ = get(t, s, s.APIURL+"/repos/o/r/issues/1/comments?per_page=2&page=3")
	if strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Error("last page links to a next page")
	}
}

func TestRateLimitResponse(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.Fail(OpListReleases, Failure{Status: 403, RateLimited: true, Times: 1})
	resp, b := get(t, s, s.APIURL+"/repos/o/r/releases")
	if resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(string(b), "rate limit exceeded") {
		t.Fatalf("got %d %v %s", resp.StatusCode, resp.Header, b)
	}
	resp, _ = get(t, s, s.APIURL+"/repos/o/r/releases")
	if resp.StatusCode != 200 {
		t.Fatalf("failure did not clear after Times: %d", resp.StatusCode)
	}
	if s.Count(OpListReleases) != 2 {
		t.Errorf("Count = %d", s.Count(OpListReleases))
	}
}
