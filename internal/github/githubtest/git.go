package githubtest

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultBranch is the default branch of every repository the server holds.
const DefaultBranch = "main"

// repoState is one repository: branches pointing at commits, each commit
// a full snapshot of the files, and the pull requests.
type repoState struct {
	branches map[string]string // name → commit SHA
	commits  map[string]*commit
	pulls    []*Pull
	// nextNumber is shared by issues and pull requests, as on GitHub.
	nextNumber int
}

type commit struct {
	sha     string
	parent  string
	message string
	files   map[string][]byte
}

// Pull is a pull request held by the server.
type Pull struct {
	Number int
	Title  string
	Body   string
	Head   string // branch
	Base   string // branch
	// HeadRepo is the full name of the repository the head branch lives
	// in: empty for this repository, `mallory/deploy` for a fork's PR.
	HeadRepo string
	// User is the author's login: the token's identity for a PR the API
	// opened; set it for a PR opened by someone else.
	User    string
	State   string // open or closed
	Merged  bool
	Created time.Time
	Updated time.Time
}

// repoLocked returns repo's state, creating it with an empty initial
// commit on the default branch. s.mu must be held.
func (s *Server) repoLocked(repo string) *repoState {
	r := s.repos[repo]
	if r == nil {
		root := &commit{sha: commitSHA("", "initial commit", nil), message: "initial commit", files: map[string][]byte{}}
		r = &repoState{
			branches:   map[string]string{DefaultBranch: root.sha},
			commits:    map[string]*commit{root.sha: root},
			nextNumber: 1,
		}
		s.repos[repo] = r
	}
	return r
}

// commitLocked adds a commit on branch that sets path to content.
func (r *repoState) commitLocked(branch, path, message string, content []byte) *commit {
	parent := r.commits[r.branches[branch]]
	files := maps.Clone(parent.files)
	files[path] = append([]byte(nil), content...)
	c := &commit{parent: parent.sha, message: message, files: files}
	c.sha = commitSHA(parent.sha, message, files)
	r.commits[c.sha] = c
	r.branches[branch] = c.sha
	return c
}

// resolve finds the commit a ref names: a branch, `heads/<branch>`, or a
// commit SHA; empty is the default branch.
func (r *repoState) resolve(ref string) *commit {
	if ref == "" {
		ref = DefaultBranch
	}
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "refs/"), "heads/")
	if sha, ok := r.branches[ref]; ok {
		return r.commits[sha]
	}
	return r.commits[ref]
}

// commitSHA is a deterministic 40-hex id for a commit's content.
func commitSHA(parent, message string, files map[string][]byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "parent %s\n%s\n", parent, message)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "%s %s\n", n, blobSHA(files[n]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// blobSHA is git's blob id, which the contents API reports as `sha`.
func blobSHA(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// File returns path at ref (branch or commit SHA; empty is the default
// branch) of repo.
func (s *Server) File(repo, ref, path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if r == nil {
		return nil, false
	}
	c := r.resolve(ref)
	if c == nil {
		return nil, false
	}
	b, ok := c.files[path]
	return append([]byte(nil), b...), ok
}

// Branch returns the commit SHA branch points at.
func (s *Server) Branch(repo, branch string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if r == nil {
		return "", false
	}
	sha, ok := r.branches[branch]
	return sha, ok
}

// Pulls returns a copy of repo's pull requests, oldest first.
func (s *Server) Pulls(repo string) []Pull {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pull
	if r := s.repos[repo]; r != nil {
		for _, p := range r.pulls {
			out = append(out, *p)
		}
	}
	return out
}

// Merge merges open pull request number as the merge button would: the
// base branch gets the head's changed files in a new commit, and the PR is
// closed as merged.
func (s *Server) Merge(repo string, number int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[repo]
	if r == nil {
		return fmt.Errorf("no repository %s", repo)
	}
	for _, p := range r.pulls {
		if p.Number != number {
			continue
		}
		if p.State != "open" {
			return fmt.Errorf("pull request #%d is %s", number, p.State)
		}
		head, base := r.resolve(p.Head), r.resolve(p.Base)
		for path, content := range head.files {
			if old, ok := base.files[path]; !ok || string(old) != string(content) {
				base = r.commitLocked(p.Base, path, fmt.Sprintf("Merge pull request #%d from %s", number, p.Head), content)
			}
		}
		p.State, p.Merged, p.Updated = "closed", true, p.Updated.Add(time.Minute)
		return nil
	}
	return fmt.Errorf("no pull request #%d in %s", number, repo)
}

// SetPullState closes or reopens pull request number, as a person would on
// the web page.
func (s *Server) SetPullState(repo string, number int, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[repo]; r != nil {
		for _, p := range r.pulls {
			if p.Number == number && !p.Merged {
				p.State, p.Updated = state, p.Updated.Add(time.Minute)
			}
		}
	}
}

// WriteCount returns how many requests other than GET or HEAD the server
// received, GraphQL queries aside: a run that must change nothing makes
// none.
func (s *Server) WriteCount() int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Op != OpGraphQL {
			n++
		}
	}
	return n
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, repo string) {
	s.mu.Lock()
	_, ok := s.repos[repo]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	owner, name, _ := strings.Cut(repo, "/")
	writeJSON(w, http.StatusOK, map[string]any{
		"id":             1,
		"node_id":        "R_1",
		"name":           name,
		"full_name":      repo,
		"private":        true,
		"owner":          map[string]any{"login": owner, "type": "Organization"},
		"html_url":       s.ServerURL + "/" + repo,
		"url":            s.APIURL + "/repos/" + repo,
		"default_branch": DefaultBranch,
	})
}

func (s *Server) refJSON(repo, branch, sha string) map[string]any {
	return map[string]any{
		"ref":     "refs/heads/" + branch,
		"node_id": "REF_" + sha[:8],
		"url":     s.APIURL + "/repos/" + repo + "/git/refs/heads/" + branch,
		"object": map[string]any{
			"sha":  sha,
			"type": "commit",
			"url":  s.APIURL + "/repos/" + repo + "/git/commits/" + sha,
		},
	}
}

func (s *Server) getRef(w http.ResponseWriter, r *http.Request, repo string) {
	branch, ok := strings.CutPrefix(r.PathValue("ref"), "heads/")
	s.mu.Lock()
	var sha string
	if st := s.repos[repo]; st != nil && ok {
		sha, ok = st.branches[branch]
	} else {
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, s.refJSON(repo, branch, sha))
}

// createRef answers as GitHub does: 422 "Reference already exists" for a
// branch that exists, 422 "Object does not exist" for an unknown SHA.
func (s *Server) createRef(w http.ResponseWriter, r *http.Request, repo string) {
	var in struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	branch, ok := strings.CutPrefix(in.Ref, "refs/heads/")
	if !ok || branch == "" {
		writeError(w, http.StatusUnprocessableEntity, "Reference name must start with 'refs/' and have at least two slashes.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repos[repo]
	switch {
	case st == nil:
		writeError(w, http.StatusNotFound, "Not Found")
	case st.branches[branch] != "":
		writeError(w, http.StatusUnprocessableEntity, "Reference already exists")
	case st.commits[in.SHA] == nil:
		writeError(w, http.StatusUnprocessableEntity, "Object does not exist")
	default:
		st.branches[branch] = in.SHA
		writeJSON(w, http.StatusCreated, s.refJSON(repo, branch, in.SHA))
	}
}

// deleteRef deletes a branch: 204, or 422 "Reference does not exist".
func (s *Server) deleteRef(w http.ResponseWriter, r *http.Request, repo string) {
	branch, ok := strings.CutPrefix(r.PathValue("ref"), "heads/")
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repos[repo]
	switch {
	case st == nil:
		writeError(w, http.StatusNotFound, "Not Found")
	case !ok || st.branches[branch] == "":
		writeError(w, http.StatusUnprocessableEntity, "Reference does not exist")
	case branch == DefaultBranch:
		writeError(w, http.StatusUnprocessableEntity, "Cannot delete the default branch")
	default:
		delete(st.branches, branch)
		w.WriteHeader(http.StatusNoContent)
	}
}

// putContents creates or updates a file with one commit, as the contents
// API does: an update must name the current blob SHA (422 when it is
// missing, 409 when it is stale).
func (s *Server) putContents(w http.ResponseWriter, r *http.Request, repo string) {
	path := r.PathValue("path")
	var in struct {
		Message string  `json:"message"`
		Content string  `json:"content"`
		SHA     *string `json:"sha"`
		Branch  string  `json:"branch"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	content, err := base64.StdEncoding.DecodeString(in.Content)
	if in.Message == "" || err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n\"message\" and a base64 \"content\" are required.")
		return
	}
	branch := in.Branch
	if branch == "" {
		branch = DefaultBranch
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repos[repo]
	if st == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if st.branches[branch] == "" {
		writeError(w, http.StatusNotFound, "Branch "+branch+" not found")
		return
	}
	old, exists := st.commits[st.branches[branch]].files[path]
	switch {
	case exists && in.SHA == nil:
		writeError(w, http.StatusUnprocessableEntity, "Invalid request.\n\n\"sha\" wasn't supplied.")
		return
	case exists && *in.SHA != blobSHA(old):
		writeError(w, http.StatusConflict, fmt.Sprintf("%s does not match %s", path, *in.SHA))
		return
	}
	c := st.commitLocked(branch, path, in.Message, content)
	status := http.StatusOK
	if !exists {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{
		"content": s.contentJSON(repo, branch, path, content),
		"commit": map[string]any{
			"sha":      c.sha,
			"message":  c.message,
			"url":      s.APIURL + "/repos/" + repo + "/git/commits/" + c.sha,
			"html_url": s.ServerURL + "/" + repo + "/commit/" + c.sha,
			"parents":  []map[string]any{{"sha": c.parent}},
		},
	})
}

func (s *Server) contentJSON(repo, ref, path string, content []byte) map[string]any {
	return map[string]any{
		"type":         "file",
		"encoding":     "base64",
		"size":         len(content),
		"name":         path[strings.LastIndex(path, "/")+1:],
		"path":         path,
		"content":      wrap60(base64.StdEncoding.EncodeToString(content)),
		"sha":          blobSHA(content),
		"url":          s.APIURL + "/repos/" + repo + "/contents/" + path + "?ref=" + ref,
		"html_url":     s.ServerURL + "/" + repo + "/blob/" + ref + "/" + path,
		"download_url": s.ServerURL + "/raw/" + repo + "/" + ref + "/" + path,
	}
}

func (s *Server) pullJSON(repo string, st *repoState, p *Pull) map[string]any {
	branch := func(full, name, sha string) map[string]any {
		owner, short, _ := strings.Cut(full, "/")
		return map[string]any{
			"label": owner + ":" + name,
			"ref":   name,
			"sha":   sha,
			"user":  map[string]any{"login": owner, "type": "Organization"},
			"repo": map[string]any{"full_name": full, "name": short,
				"owner": map[string]any{"login": owner}, "fork": full != repo},
		}
	}
	head := branch(repo, p.Head, st.branches[p.Head])
	if p.repoOf(repo) != repo {
		// The fork's branches are not modelled: its head SHA is made up.
		head = branch(p.HeadRepo, p.Head, commitSHA("", "fork "+p.HeadRepo+":"+p.Head, nil))
	}
	m := map[string]any{
		"id":         1000 + p.Number,
		"node_id":    "PR_" + strconv.Itoa(p.Number),
		"number":     p.Number,
		"state":      p.State,
		"title":      p.Title,
		"body":       p.Body,
		"draft":      false,
		"merged":     p.Merged,
		"html_url":   fmt.Sprintf("%s/%s/pull/%d", s.ServerURL, repo, p.Number),
		"url":        fmt.Sprintf("%s/repos/%s/pulls/%d", s.APIURL, repo, p.Number),
		"issue_url":  fmt.Sprintf("%s/repos/%s/issues/%d", s.APIURL, repo, p.Number),
		"user":       userJSON(p.User),
		"head":       head,
		"base":       branch(repo, p.Base, st.branches[p.Base]),
		"created_at": p.Created.Format(time.RFC3339),
		"updated_at": p.Updated.Format(time.RFC3339),
		"closed_at":  nil,
		"merged_at":  nil,
	}
	if p.State == "closed" {
		m["closed_at"] = p.Updated.Format(time.RFC3339)
	}
	if p.Merged {
		m["merged_at"] = p.Updated.Format(time.RFC3339)
	}
	return m
}

// listPulls filters by state (open by default), `head` (`owner:branch`)
// and `base`, newest first, with Link pagination.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request, repo string) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	s.mu.Lock()
	st := s.repos[repo]
	var out []map[string]any
	if st != nil {
		for i := len(st.pulls) - 1; i >= 0; i-- {
			p := st.pulls[i]
			// GitHub's `head` filter is `owner:branch`, the owner of the
			// repository the head lives in: a fork's branch of the same
			// name does not match this repository's owner.
			headOwner, headBranch, _ := strings.Cut(q.Get("head"), ":")
			pOwner, _, _ := strings.Cut(p.repoOf(repo), "/")
			if (state != "all" && p.State != state) || (q.Get("head") != "" && (p.Head != headBranch || !strings.EqualFold(pOwner, headOwner))) ||
				(q.Get("base") != "" && p.Base != q.Get("base")) {
				continue
			}
			out = append(out, s.pullJSON(repo, st, p))
		}
	}
	s.mu.Unlock()
	page, per := s.paging(r, 30)
	lo, hi := pageBounds(len(out), page, per)
	s.link(w, r, page, per, len(out))
	writeJSON(w, http.StatusOK, append([]map[string]any{}, out[lo:hi]...))
}

func validationFailed(w http.ResponseWriter, errs ...map[string]any) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            errs,
		"documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
		"status":            "422",
	})
}

// createPull refuses, as GitHub does, a head branch that does not exist,
// one with no commits beyond base, and a second open PR for one head.
func (s *Server) createPull(w http.ResponseWriter, r *http.Request, repo string) {
	var in struct {
		Title, Head, Base, Body string
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	if _, b, ok := strings.Cut(in.Head, ":"); ok {
		in.Head = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repos[repo]
	if st == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	switch {
	case in.Title == "":
		validationFailed(w, map[string]any{"resource": "Issue", "code": "missing_field", "field": "title"})
		return
	case st.branches[in.Head] == "":
		validationFailed(w, map[string]any{"resource": "PullRequest", "code": "invalid", "field": "head"})
		return
	case st.branches[in.Base] == "":
		validationFailed(w, map[string]any{"resource": "PullRequest", "code": "invalid", "field": "base"})
		return
	case st.branches[in.Head] == st.branches[in.Base]:
		validationFailed(w, map[string]any{"resource": "PullRequest", "code": "custom",
			"message": fmt.Sprintf("No commits between %s and %s", in.Base, in.Head)})
		return
	}
	owner, _, _ := strings.Cut(repo, "/")
	for _, p := range st.pulls {
		if p.State == "open" && p.Head == in.Head && p.Base == in.Base && p.repoOf(repo) == repo {
			validationFailed(w, map[string]any{"resource": "PullRequest", "code": "custom",
				"message": fmt.Sprintf("A pull request already exists for %s:%s.", owner, in.Head)})
			return
		}
	}
	s.nextID++
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s.nextID) * time.Minute)
	p := &Pull{Number: st.nextNumber, Title: in.Title, Body: in.Body, Head: in.Head, Base: in.Base,
		State: "open", Created: now, Updated: now, User: s.identityLocked(tokenOf(r))}
	st.nextNumber++
	st.pulls = append(st.pulls, p)
	writeJSON(w, http.StatusCreated, s.pullJSON(repo, st, p))
}

func (s *Server) editPull(w http.ResponseWriter, r *http.Request, repo string) {
	n, err := strconv.Atoi(r.PathValue("number"))
	var in struct {
		Title, Body, State *string
	}
	if err == nil {
		err = json.NewDecoder(r.Body).Decode(&in)
	}
	if err != nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repos[repo]
	if st == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	for _, p := range st.pulls {
		if p.Number != n {
			continue
		}
		if in.State != nil && *in.State != "open" && *in.State != "closed" {
			validationFailed(w, map[string]any{"resource": "PullRequest", "code": "invalid", "field": "state"})
			return
		}
		if in.Title != nil {
			p.Title = *in.Title
		}
		if in.Body != nil {
			p.Body = *in.Body
		}
		if in.State != nil && !p.Merged {
			p.State = *in.State
		}
		p.Updated = p.Updated.Add(time.Minute)
		writeJSON(w, http.StatusOK, s.pullJSON(repo, st, p))
		return
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

// repoOf is the full name of the repository p's head lives in.
func (p *Pull) repoOf(repo string) string {
	if p.HeadRepo != "" {
		return p.HeadRepo
	}
	return repo
}

// AddPull adds a pull request opened by someone other than the API's
// token, e.g. from a fork (HeadRepo set) or by a person (User set), and
// returns its number. A head in this repository must be an existing
// branch; State defaults to open.
func (s *Server) AddPull(repo string, p Pull) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repoLocked(repo)
	s.nextID++
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s.nextID) * time.Minute)
	if p.State == "" {
		p.State = "open"
	}
	if p.Base == "" {
		p.Base = DefaultBranch
	}
	p.Number, p.Created, p.Updated = st.nextNumber, now, now
	st.nextNumber++
	st.pulls = append(st.pulls, &p)
	return p.Number
}
