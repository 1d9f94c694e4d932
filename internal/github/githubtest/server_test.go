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

func send(t *testing.T, s *Server, method, url, token string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// TestGitWritesAnswerAsGitHub checks the error answers the propose client
// relies on: 422 for an existing branch, 409 for a stale blob SHA, 422 for
// a second PR from one branch, and 403 naming the permission.
func TestGitWritesAnswerAsGitHub(t *testing.T) {
	s := NewServer(WithTokenPermissions("ro"), WithTokenPermissions("rw", "contents=write", "pull_requests=write"))
	defer s.Close()
	s.SetFile("o/r", "V", []byte("1\n"))
	api := s.APIURL + "/repos/o/r"
	head, _ := s.Branch("o/r", DefaultBranch)

	if st, _, _ := send(t, s, "POST", api+"/git/refs", "rw", map[string]string{"ref": "refs/heads/b", "sha": head}); st != 201 {
		t.Fatalf("create ref: %d", st)
	}
	st, out, _ := send(t, s, "POST", api+"/git/refs", "rw", map[string]string{"ref": "refs/heads/b", "sha": head})
	if st != 422 || out["message"] != "Reference already exists" {
		t.Errorf("existing ref: %d %v", st, out)
	}
	content := base64.StdEncoding.EncodeToString([]byte("2\n"))
	st, out, _ = send(t, s, "PUT", api+"/contents/V", "rw", map[string]string{"message": "m", "content": content, "branch": "b", "sha": "0000000000000000000000000000000000000000"})
	if st != 409 || !strings.Contains(out["message"].(string), "does not match") {
		t.Errorf("stale sha: %d %v", st, out)
	}
	st, out, _ = send(t, s, "PUT", api+"/contents/V", "rw", map[string]string{"message": "m", "content": content, "branch": "b"})
	if st != 422 || !strings.Contains(out["message"].(string), `"sha" wasn't supplied`) {
		t.Errorf("missing sha: %d %v", st, out)
	}
	_, b := get(t, s, api+"/contents/V?ref=b")
	var file struct{ SHA string }
	_ = json.Unmarshal(b, &file)
	st, out, _ = send(t, s, "PUT", api+"/contents/V", "rw", map[string]string{"message": "m", "content": content, "branch": "b", "sha": file.SHA})
	if st != 200 || out["commit"] == nil {
		t.Errorf("update: %d %v", st, out)
	}
	pr := map[string]string{"title": "t", "head": "b", "base": DefaultBranch}
	if st, _, _ := send(t, s, "POST", api+"/pulls", "rw", pr); st != 201 {
		t.Errorf("create pull: %d", st)
	}
	st, out, _ = send(t, s, "POST", api+"/pulls", "rw", pr)
	if errs, _ := out["errors"].([]any); st != 422 || len(errs) != 1 || !strings.Contains(errs[0].(map[string]any)["message"].(string), "A pull request already exists for o:b.") {
		t.Errorf("second pull: %d %v", st, out)
	}
	st, out, h := send(t, s, "POST", api+"/pulls", "ro", pr)
	if st != 403 || out["message"] != "Resource not accessible by integration" || h.Get("X-Accepted-GitHub-Permissions") != "pull_requests=write" {
		t.Errorf("read-only token: %d %v %v", st, out, h)
	}
}
