// Package githubtest serves a local GitHub REST API with the real API's
// payload shapes, for tests and the demo: the contents API (base64 content),
// releases with assets and digests, release asset downloads, and issue
// comments with Link-header pagination, plus knobs to force the failures a
// real run meets (403 from a read-only token, rate limits, 5xx).
package githubtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Op names an endpoint, for failure injection and call counting.
type Op string

const (
	OpGetContents   Op = "get-contents"
	OpListReleases  Op = "list-releases"
	OpGetRelease    Op = "get-release"
	OpListComments  Op = "list-comments"
	OpCreateComment Op = "create-comment"
	OpEditComment   Op = "edit-comment"
	OpDownload      Op = "download-asset"
	OpGetRepo       Op = "get-repo"
	OpGetRef        Op = "get-ref"
	OpCreateRef     Op = "create-ref"
	OpDeleteRef     Op = "delete-ref"
	OpPutContents   Op = "put-contents"
	OpListPulls     Op = "list-pulls"
	OpCreatePull    Op = "create-pull"
	OpEditPull      Op = "edit-pull"
	OpGetUser       Op = "get-user"
	OpGraphQL       Op = "graphql"
)

// acceptedPermissions are the token permissions each write needs, as GitHub
// reports them in X-Accepted-GitHub-Permissions: alternatives separated by
// "; ".
var acceptedPermissions = map[Op]string{
	OpCreateComment: "issues=write; pull_requests=write",
	OpEditComment:   "issues=write; pull_requests=write",
	OpCreateRef:     "contents=write",
	OpDeleteRef:     "contents=write",
	OpPutContents:   "contents=write",
	OpCreatePull:    "pull_requests=write",
	OpEditPull:      "pull_requests=write",
}

// Failure is an injected error response.
type Failure struct {
	// Status is the HTTP status, e.g. 403 or 502.
	Status int
	// Message is the JSON `message`; a realistic default is used when empty.
	Message string
	// RateLimited is the primary rate limit: x-ratelimit-remaining 0 and
	// x-ratelimit-reset, which is how GitHub says "rate limit exceeded" on
	// a 403 or 429.
	RateLimited bool
	// Reset is how long from now the primary rate limit resets; default
	// an hour.
	Reset time.Duration
	// Secondary is a secondary rate limit: GitHub's message and
	// documentation_url for it, with a Retry-After header when RetryAfter
	// is set (whole seconds) and the primary limit far from exhausted.
	Secondary  bool
	RetryAfter time.Duration
	// Times is how many requests fail before the endpoint recovers; 0 means
	// every request.
	Times int
}

// Asset is a release asset. Digest is computed from Content unless set;
// set NoDigest to serve an asset uploaded before GitHub reported digests.
type Asset struct {
	Name     string
	Content  []byte
	Digest   string
	NoDigest bool
}

// Release is a release of a repository.
type Release struct {
	Tag        string
	Name       string
	Body       string
	Draft      bool
	Prerelease bool
	Assets     []Asset
}

// Comment is an issue comment held by the server.
type Comment struct {
	ID      int64
	User    string
	Body    string
	Created time.Time
	Updated time.Time
}

// Request is one request the server received.
type Request struct {
	Op     Op
	Method string
	Path   string
	// Authorization is true when the request carried a token.
	Authorization bool
	// Received is when the request arrived, Answered when the server
	// began its answer (after any latency or hold): tests of what runs
	// beside what read them.
	Received, Answered time.Time
}

// Server is a local GitHub API. Create it with NewServer; it is safe for
// concurrent use.
type Server struct {
	// APIURL is the REST root to give clients as GITHUB_API_URL.
	APIURL string
	// ServerURL is the web root (GITHUB_SERVER_URL); release assets are
	// downloadable at ServerURL/<owner>/<repo>/releases/download/<tag>/<name>.
	ServerURL string

	srv *httptest.Server

	mu          sync.Mutex
	repos       map[string]*repoState
	releases    map[string][]*release
	comments    map[string][]*Comment // repo + "#" + pr
	nextID      int64
	failures    map[Op]*Failure
	requests    []Request
	perPage     int
	writeTokens map[string]bool
	tokenPerms  map[string]map[string]bool
	commentUser string
	tokenUsers  map[string]string
	// holds and latency slow answers down: a GitHub that is slow, or one
	// whose answer a test releases when it chooses.
	holds   map[Op]chan struct{}
	latency time.Duration
}

type release struct {
	id int64
	Release
	assetIDs []int64
	created  time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithPathPrefix serves the API under prefix, as GitHub Enterprise Server
// does under `/api/v3`.
func WithPathPrefix(prefix string) Option {
	return func(s *Server) { s.APIURL = strings.TrimRight(prefix, "/") }
}

// WithMaxPerPage caps page sizes, so that tests reach pagination with a
// handful of comments.
func WithMaxPerPage(n int) Option {
	return func(s *Server) { s.perPage = n }
}

// WithWriteTokens makes writes (create/edit comment) succeed only with one
// of tokens; any other token gets GitHub's 403 "Resource not accessible by
// integration", as a read-only token on a forked PR does.
func WithWriteTokens(tokens ...string) Option {
	return func(s *Server) {
		for _, t := range tokens {
			s.writeTokens[t] = true
		}
	}
}

// WithTokenPermissions gives token exactly perms (`contents=write`,
// `pull_requests=write`, `issues=write`): a write needing another answers
// 403 "Resource not accessible by integration" with the permission it needs
// in X-Accepted-GitHub-Permissions, as GitHub does for a job whose
// `permissions:` block lacks it.
func WithTokenPermissions(token string, perms ...string) Option {
	return func(s *Server) {
		s.tokenPerms[token] = map[string]bool{}
		for _, p := range perms {
			s.tokenPerms[token][p] = true
		}
	}
}

// WithCommentUser sets the login of every token's identity: the author of
// the comments and pull requests it creates, and what GET /user (or, for a
// `[bot]` login, GraphQL's viewer) answers. The default is
// `github-actions[bot]`, the identity of a job's GITHUB_TOKEN.
func WithCommentUser(login string) Option {
	return func(s *Server) { s.commentUser = login }
}

// WithTokenUser gives token its own identity, for tests with two
// actors: a login ending in `[bot]` is a GitHub App installation token.
func WithTokenUser(token, login string) Option {
	return func(s *Server) { s.tokenUsers[token] = login }
}

// identityLocked is the login token acts as.
func (s *Server) identityLocked(token string) string {
	if u, ok := s.tokenUsers[token]; ok {
		return u
	}
	return s.commentUser
}

func tokenOf(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func userJSON(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{"login": login, "id": len(login) * 1009, "node_id": "U_" + login, "type": typ,
		"site_admin": false}
}

// getUser answers GET /user as GitHub does: the token's user, or for a
// GitHub App installation token (a `[bot]` identity, GITHUB_TOKEN among
// them) 403 "Resource not accessible by integration".
func (s *Server) getUser(w http.ResponseWriter, r *http.Request, _ string) {
	token := tokenOf(r)
	if token == "" {
		writeErrorDoc(w, http.StatusUnauthorized, "Requires authentication", "https://docs.github.com/rest/users/users#get-the-authenticated-user")
		return
	}
	s.mu.Lock()
	login := s.identityLocked(token)
	s.mu.Unlock()
	if strings.HasSuffix(login, "[bot]") {
		writeErrorDoc(w, http.StatusForbidden, "Resource not accessible by integration", "https://docs.github.com/rest/users/users#get-the-authenticated-user")
		return
	}
	writeJSON(w, http.StatusOK, userJSON(login))
}

// graphql answers the one query the action makes, `{ viewer { login } }`,
// which GitHub answers for user and App installation tokens alike (an
// App's as `<slug>[bot]`).
func (s *Server) graphql(w http.ResponseWriter, r *http.Request, _ string) {
	var in struct {
		Query string `json:"query"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !strings.Contains(in.Query, "viewer") {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []map[string]any{{"message": "A query attribute must be specified and must be a string."}}})
		return
	}
	token := tokenOf(r)
	if token == "" {
		writeErrorDoc(w, http.StatusUnauthorized, "This endpoint requires you to be authenticated.", "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql")
		return
	}
	s.mu.Lock()
	login := s.identityLocked(token)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"viewer": map[string]any{"login": login}}})
}

// NewServer starts a server on 127.0.0.1. Call Close when done (tests can use
// t.Cleanup(s.Close)).
func NewServer(opts ...Option) *Server {
	s := &Server{
		repos:       map[string]*repoState{},
		tokenPerms:  map[string]map[string]bool{},
		releases:    map[string][]*release{},
		comments:    map[string][]*Comment{},
		failures:    map[Op]*Failure{},
		perPage:     100,
		writeTokens: map[string]bool{},
		tokenUsers:  map[string]string{},
		commentUser: "github-actions[bot]",
	}
	for _, o := range opts {
		o(s)
	}
	prefix := s.APIURL
	s.srv = httptest.NewServer(s.routes(prefix))
	s.ServerURL = s.srv.URL
	s.APIURL = s.srv.URL + prefix
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// SetFile commits content at path to the default branch of repo
// ("owner/name"), creating the repository when new.
func (s *Server) SetFile(repo, path string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path = strings.TrimPrefix(path, "/")
	s.repoLocked(repo).commitLocked(DefaultBranch, path, "Update "+path, content)
}

// AddRelease adds a release; releases list newest-added first, as GitHub
// lists the newest created first.
func (s *Server) AddRelease(repo string, r Release) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	rel := &release{id: s.nextID, Release: r, created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s.nextID) * time.Hour)}
	for range r.Assets {
		s.nextID++
		rel.assetIDs = append(rel.assetIDs, s.nextID)
	}
	s.releases[repo] = append([]*release{rel}, s.releases[repo]...)
}

// AddComment adds a comment written by user on PR pr, as another bot or a
// human would have, and returns its ID.
func (s *Server) AddComment(repo string, pr int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addCommentLocked(repo, pr, user, body).ID
}

func (s *Server) addCommentLocked(repo string, pr int, user, body string) *Comment {
	s.nextID++
	now := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s.nextID) * time.Minute)
	c := &Comment{ID: s.nextID, User: user, Body: body, Created: now, Updated: now}
	k := commentKey(repo, pr)
	s.comments[k] = append(s.comments[k], c)
	return c
}

// Comments returns a copy of the comments on PR pr, oldest first.
func (s *Server) Comments(repo string, pr int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.comments[commentKey(repo, pr)] {
		out = append(out, *c)
	}
	return out
}

// DeleteComment removes comment id, as its author or a maintainer can at
// any time; it reports whether there was one.
func (s *Server) DeleteComment(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, cs := range s.comments {
		for i, c := range cs {
			if c.ID == id {
				s.comments[k] = append(cs[:i:i], cs[i+1:]...)
				return true
			}
		}
	}
	return false
}

// Fail makes op answer with f until f.Times requests have failed (or forever
// when Times is 0). Fail(op, Failure{}) clears it.
func (s *Server) Fail(op Op, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Status == 0 {
		delete(s.failures, op)
		return
	}
	s.failures[op] = &f
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests op received.
func (s *Server) Count(op Op) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Op == op {
			n++
		}
	}
	return n
}

// Digest returns the digest the server reports for content.
func Digest(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func commentKey(repo string, pr int) string { return repo + "#" + strconv.Itoa(pr) }

func (s *Server) routes(prefix string) http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, op Op, h func(w http.ResponseWriter, r *http.Request, repo string)) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+prefix+path, func(w http.ResponseWriter, r *http.Request) {
			repo := r.PathValue("owner") + "/" + r.PathValue("repo")
			if !s.admit(w, r, op) {
				return
			}
			h(w, r, repo)
		})
	}
	api("GET /repos/{owner}/{repo}/contents/{path...}", OpGetContents, s.getContents)
	api("GET /repos/{owner}/{repo}/releases", OpListReleases, s.listReleases)
	api("GET /repos/{owner}/{repo}/releases/tags/{tag}", OpGetRelease, s.getRelease)
	api("GET /repos/{owner}/{repo}/issues/{number}/comments", OpListComments, s.listComments)
	api("POST /repos/{owner}/{repo}/issues/{number}/comments", OpCreateComment, s.createComment)
	api("PATCH /repos/{owner}/{repo}/issues/comments/{id}", OpEditComment, s.editComment)
	api("GET /repos/{owner}/{repo}", OpGetRepo, s.getRepo)
	api("GET /repos/{owner}/{repo}/git/ref/{ref...}", OpGetRef, s.getRef)
	api("POST /repos/{owner}/{repo}/git/refs", OpCreateRef, s.createRef)
	api("DELETE /repos/{owner}/{repo}/git/refs/{ref...}", OpDeleteRef, s.deleteRef)
	api("PUT /repos/{owner}/{repo}/contents/{path...}", OpPutContents, s.putContents)
	api("GET /repos/{owner}/{repo}/pulls", OpListPulls, s.listPulls)
	api("POST /repos/{owner}/{repo}/pulls", OpCreatePull, s.createPull)
	api("PATCH /repos/{owner}/{repo}/pulls/{number}", OpEditPull, s.editPull)
	api("GET /user", OpGetUser, s.getUser)
	// GitHub Enterprise Server serves GraphQL at /api/graphql beside the
	// REST root /api/v3.
	gqlPath := prefix + "/graphql"
	if strings.HasSuffix(prefix, "/v3") {
		gqlPath = strings.TrimSuffix(prefix, "/v3") + "/graphql"
	}
	mux.HandleFunc("POST "+gqlPath, func(w http.ResponseWriter, r *http.Request) {
		if s.admit(w, r, OpGraphQL) {
			s.graphql(w, r, "")
		}
	})
	mux.HandleFunc("GET /{owner}/{repo}/releases/download/{tag}/{name}", func(w http.ResponseWriter, r *http.Request) {
		if !s.admit(w, r, OpDownload) {
			return
		}
		s.download(w, r, r.PathValue("owner")+"/"+r.PathValue("repo"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	})
	return mux
}

// Hold makes every request of op wait until release is called (or its
// client gives up), as a GitHub that has not answered yet.
func (s *Server) Hold(op Op) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.holds == nil {
		s.holds = map[Op]chan struct{}{}
	}
	s.holds[op] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// SetLatency makes every API answer (downloads too) come d after its
// request, as a slow GitHub's do.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// delay applies Hold and SetLatency to a request of op.
func (s *Server) delay(r *http.Request, op Op) {
	s.mu.Lock()
	hold, latency := s.holds[op], s.latency
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
	}
}

// admit records the request and applies injected failures and token rules.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, op Op) bool {
	received := time.Now()
	s.delay(r, op)
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	s.requests = append(s.requests, Request{Op: op, Method: r.Method, Path: r.URL.Path, Authorization: token != "",
		Received: received, Answered: time.Now()})
	f := s.failures[op]
	var fail Failure
	if f != nil {
		fail = *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(s.failures, op)
			}
		}
	}
	accepted, write := acceptedPermissions[op]
	readOnly := write && !s.mayWriteLocked(token, accepted)
	n := len(s.requests)
	s.mu.Unlock()

	// Every answer carries the rate limit headers and a request ID, as
	// GitHub's do.
	h := w.Header()
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("0000:%04X:%06X", n, time.Now().UnixNano()&0xffffff))
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(5000-n%5000))
	h.Set("X-RateLimit-Used", strconv.Itoa(n%5000))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	if f != nil {
		doc := "https://docs.github.com/rest"
		switch {
		case fail.RateLimited:
			reset := fail.Reset
			if reset <= 0 {
				reset = time.Hour
			}
			h.Set("X-RateLimit-Remaining", "0")
			h.Set("X-RateLimit-Used", "5000")
			h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(reset).Unix(), 10))
			doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits"
		case fail.Secondary:
			if fail.RetryAfter > 0 {
				h.Set("Retry-After", strconv.Itoa(int(fail.RetryAfter.Round(time.Second)/time.Second)))
			}
			doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
		}
		msg := fail.Message
		if msg == "" {
			msg = defaultMessage(fail)
		}
		writeErrorDoc(w, fail.Status, msg, doc)
		return false
	}
	if readOnly {
		w.Header().Set("X-Accepted-GitHub-Permissions", accepted)
		writeError(w, http.StatusForbidden, "Resource not accessible by integration")
		return false
	}
	return true
}

// mayWriteLocked applies WithWriteTokens and WithTokenPermissions; with
// neither, every token may write.
func (s *Server) mayWriteLocked(token, accepted string) bool {
	if len(s.writeTokens) == 0 && len(s.tokenPerms) == 0 {
		return true
	}
	if s.writeTokens[token] {
		return true
	}
	for _, alt := range strings.Split(accepted, ";") {
		if s.tokenPerms[token][strings.TrimSpace(alt)] {
			return true
		}
	}
	return false
}

func defaultMessage(f Failure) string {
	switch {
	case f.RateLimited:
		return "API rate limit exceeded for installation ID 4242."
	case f.Secondary:
		return "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:000000."
	case f.Status == http.StatusForbidden:
		return "Resource not accessible by integration"
	case f.Status == http.StatusNotFound:
		return "Not Found"
	case f.Status == http.StatusUnauthorized:
		return "Bad credentials"
	case f.Status >= 500:
		return "Server Error"
	}
	return http.StatusText(f.Status)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeErrorDoc(w, status, msg, "https://docs.github.com/rest")
}

func writeErrorDoc(w http.ResponseWriter, status int, msg, doc string) {
	writeJSON(w, status, map[string]any{
		"message":           msg,
		"documentation_url": doc,
		"status":            strconv.Itoa(status),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// getContents serves a file at ?ref= (a branch or commit SHA; the default
// branch when absent). An unknown ref is a 404 "No commit found for the
// ref", as on GitHub.
func (s *Server) getContents(w http.ResponseWriter, r *http.Request, repo string) {
	path := r.PathValue("path")
	ref := r.URL.Query().Get("ref")
	s.mu.Lock()
	var content []byte
	ok, refOK := false, false
	if st := s.repos[repo]; st != nil {
		if c := st.resolve(ref); c != nil {
			refOK = true
			content, ok = c.files[path]
		}
	}
	s.mu.Unlock()
	switch {
	case !refOK && ref != "":
		writeError(w, http.StatusNotFound, "No commit found for the ref "+ref)
		return
	case !ok:
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if ref == "" {
		ref = DefaultBranch
	}
	writeJSON(w, http.StatusOK, s.contentJSON(repo, ref, path, content))
}

// wrap60 breaks base64 into lines as the contents API does (60 characters
// and a newline), which clients must tolerate.
func wrap60(b64 string) string {
	var sb strings.Builder
	for len(b64) > 60 {
		sb.WriteString(b64[:60])
		sb.WriteByte('\n')
		b64 = b64[60:]
	}
	sb.WriteString(b64)
	sb.WriteByte('\n')
	return sb.String()
}

func (s *Server) releaseJSON(repo string, rel *release) map[string]any {
	assets := []map[string]any{}
	for i, a := range rel.Assets {
		digest := a.Digest
		if digest == "" {
			digest = Digest(a.Content)
		}
		m := map[string]any{
			"id":                   rel.assetIDs[i],
			"name":                 a.Name,
			"label":                "",
			"content_type":         "application/gzip",
			"state":                "uploaded",
			"size":                 len(a.Content),
			"download_count":       0,
			"created_at":           rel.created.Format(time.RFC3339),
			"updated_at":           rel.created.Format(time.RFC3339),
			"url":                  fmt.Sprintf("%s/repos/%s/releases/assets/%d", s.APIURL, repo, rel.assetIDs[i]),
			"browser_download_url": fmt.Sprintf("%s/%s/releases/download/%s/%s", s.ServerURL, repo, rel.Tag, a.Name),
			"digest":               digest,
		}
		if a.NoDigest {
			m["digest"] = nil
		}
		assets = append(assets, m)
	}
	return map[string]any{
		"id":           rel.id,
		"tag_name":     rel.Tag,
		"name":         rel.Name,
		"body":         rel.Body,
		"draft":        rel.Draft,
		"prerelease":   rel.Prerelease,
		"created_at":   rel.created.Format(time.RFC3339),
		"published_at": rel.created.Format(time.RFC3339),
		"url":          fmt.Sprintf("%s/repos/%s/releases/%d", s.APIURL, repo, rel.id),
		"html_url":     s.ServerURL + "/" + repo + "/releases/tag/" + rel.Tag,
		"assets":       assets,
	}
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, repo string) {
	s.mu.Lock()
	rels := append([]*release(nil), s.releases[repo]...)
	s.mu.Unlock()
	page, per := s.paging(r, 30)
	lo, hi := pageBounds(len(rels), page, per)
	out := []map[string]any{}
	for _, rel := range rels[lo:hi] {
		out = append(out, s.releaseJSON(repo, rel))
	}
	s.link(w, r, page, per, len(rels))
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) findRelease(repo, tag string) *release {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rel := range s.releases[repo] {
		if rel.Tag == tag && !rel.Draft {
			return rel
		}
	}
	return nil
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, repo string) {
	rel := s.findRelease(repo, r.PathValue("tag"))
	if rel == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.releaseJSON(repo, rel))
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, repo string) {
	rel := s.findRelease(repo, r.PathValue("tag"))
	if rel != nil {
		for _, a := range rel.Assets {
			if a.Name == r.PathValue("name") {
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", strconv.Itoa(len(a.Content)))
				_, _ = w.Write(a.Content)
				return
			}
		}
	}
	http.Error(w, "Not Found", http.StatusNotFound)
}

func (s *Server) commentJSON(repo string, pr int, c *Comment) map[string]any {
	return map[string]any{
		"id":         c.ID,
		"node_id":    fmt.Sprintf("IC_%d", c.ID),
		"url":        fmt.Sprintf("%s/repos/%s/issues/comments/%d", s.APIURL, repo, c.ID),
		"html_url":   fmt.Sprintf("%s/%s/pull/%d#issuecomment-%d", s.ServerURL, repo, pr, c.ID),
		"issue_url":  fmt.Sprintf("%s/repos/%s/issues/%d", s.APIURL, repo, pr),
		"body":       c.Body,
		"user":       userJSON(c.User),
		"created_at": c.Created.Format(time.RFC3339),
		"updated_at": c.Updated.Format(time.RFC3339),
	}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request, repo string) {
	pr, err := strconv.Atoi(r.PathValue("number"))
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	cs := append([]*Comment(nil), s.comments[commentKey(repo, pr)]...)
	s.mu.Unlock()
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	page, per := s.paging(r, 30)
	lo, hi := pageBounds(len(cs), page, per)
	out := []map[string]any{}
	for _, c := range cs[lo:hi] {
		out = append(out, s.commentJSON(repo, pr, c))
	}
	s.link(w, r, page, per, len(cs))
	writeJSON(w, http.StatusOK, out)
}

func decodeBody(r *http.Request) (string, bool) {
	var in struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == nil {
		return "", false
	}
	return *in.Body, true
}

// maxCommentBody is GitHub's limit on a comment body, in characters.
const maxCommentBody = 65536

func (s *Server) createComment(w http.ResponseWriter, r *http.Request, repo string) {
	pr, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || pr <= 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, ok := commentBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	c := s.addCommentLocked(repo, pr, s.identityLocked(tokenOf(r)), body)
	out := s.commentJSON(repo, pr, c)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// commentBody reads a comment's body, answering 422 as GitHub does when it is missing or
// too long.
func commentBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	body, ok := decodeBody(r)
	if !ok {
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n\"body\" wasn't supplied.")
		return "", false
	}
	if len([]rune(body)) > maxCommentBody {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: body is too long (maximum is 65536 characters)")
		return "", false
	}
	return body, true
}

func (s *Server) editComment(w http.ResponseWriter, r *http.Request, repo string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, ok := commentBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, cs := range s.comments {
		if !strings.HasPrefix(k, repo+"#") {
			continue
		}
		for _, c := range cs {
			if c.ID == id {
				c.Body = body
				c.Updated = c.Updated.Add(time.Minute)
				pr, _ := strconv.Atoi(strings.TrimPrefix(k, repo+"#"))
				writeJSON(w, http.StatusOK, s.commentJSON(repo, pr, c))
				return
			}
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

func (s *Server) paging(r *http.Request, def int) (page, per int) {
	page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	if page < 1 {
		page = 1
	}
	per, _ = strconv.Atoi(r.URL.Query().Get("per_page"))
	if per < 1 {
		per = def
	}
	if per > 100 {
		per = 100
	}
	s.mu.Lock()
	if per > s.perPage {
		per = s.perPage
	}
	s.mu.Unlock()
	return page, per
}

func pageBounds(n, page, per int) (int, int) {
	lo := (page - 1) * per
	if lo > n {
		lo = n
	}
	hi := lo + per
	if hi > n {
		hi = n
	}
	return lo, hi
}

// link writes GitHub's Link header: next and last while more pages remain,
// prev and first after the first page.
func (s *Server) link(w http.ResponseWriter, r *http.Request, page, per, total int) {
	last := (total + per - 1) / per
	if last < 1 {
		last = 1
	}
	ref := func(p int, rel string) string {
		u := *r.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(per))
		u.RawQuery = q.Encode()
		return fmt.Sprintf("<%s%s>; rel=%q", s.ServerURL, u.RequestURI(), rel)
	}
	var parts []string
	if page > 1 {
		parts = append(parts, ref(page-1, "prev"), ref(1, "first"))
	}
	if page < last {
		parts = append(parts, ref(page+1, "next"), ref(last, "last"))
	}
	if len(parts) > 0 {
		w.Header().Set("Link", strings.Join(parts, ", "))
	}
}
