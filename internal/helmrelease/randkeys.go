package helmrelease

import (
	"sort"
	"strings"
	"text/template/parse"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// randomKeys finds the values keys that can stand in for a random value in
// the chart's templates: a .Values field used in the same template action
// as a random source, as in
//
//	{{ default (randAlphaNum 32) .Values.pachd.clusterDeploymentID }}
//	{{ .Values.pachd.storage.local.hostPath | default $randHostPath }}
//
// where a variable counts as random when it was assigned from a random
// source. These are only candidates: a render with a sentinel in each one
// shows which generated field, if any, a key really sets.
func randomKeys(ch *chart.Chart) []string {
	found := map[string]bool{}
	var walk func(c *chart.Chart, prefix string)
	walk = func(c *chart.Chart, prefix string) {
		for _, f := range c.Templates {
			if f == nil || !strings.HasPrefix(f.Name, "templates/") {
				continue
			}
			scanTemplate(f.Name, string(f.Data), func(key string) {
				if prefix != "" && !strings.HasPrefix(key, "global.") {
					key = prefix + key
				}
				found[key] = true
			})
		}
		for _, d := range c.Dependencies() {
			walk(d, prefix+d.Name()+".")
		}
	}
	walk(ch, "")
	out := make([]string, 0, len(found))
	for k := range found {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// scanTemplate reports each values key of text that meets a random source
// in one action. A template that does not parse is skipped: Helm itself
// will report it when it renders.
func scanTemplate(name, text string, report func(key string)) {
	t := parse.New(name)
	t.Mode = parse.SkipFuncCheck
	trees := map[string]*parse.Tree{}
	if _, err := t.Parse(text, "", "", trees); err != nil {
		return
	}
	s := &scanner{randomVars: map[string]bool{}, report: report}
	// A define's variables are its own, but a random variable is named
	// alike across them in practice; scanning in a stable order keeps the
	// result stable.
	for _, n := range sortedKeys(trees) {
		if tree := trees[n]; tree != nil && tree.Root != nil {
			s.node(tree.Root)
		}
	}
}

type scanner struct {
	randomVars map[string]bool
	report     func(string)
}

func (s *scanner) node(n parse.Node) {
	switch t := n.(type) {
	case *parse.ListNode:
		if t == nil {
			return
		}
		for _, c := range t.Nodes {
			s.node(c)
		}
	case *parse.ActionNode:
		s.pipe(t.Pipe)
	case *parse.IfNode:
		s.branch(&t.BranchNode)
	case *parse.RangeNode:
		s.branch(&t.BranchNode)
	case *parse.WithNode:
		s.branch(&t.BranchNode)
	case *parse.TemplateNode:
		s.pipe(t.Pipe)
	}
}

func (s *scanner) branch(b *parse.BranchNode) {
	s.pipe(b.Pipe)
	s.node(b.List)
	if b.ElseList != nil {
		s.node(b.ElseList)
	}
}

// pipe looks at one action's pipeline: whether it holds a random source,
// and which values fields it reads.
func (s *scanner) pipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	random, keys := false, []string{}
	var visit func(n parse.Node)
	visit = func(n parse.Node) {
		switch t := n.(type) {
		case *parse.PipeNode:
			if t == nil {
				return
			}
			for _, c := range t.Cmds {
				visit(c)
			}
		case *parse.CommandNode:
			for _, a := range t.Args {
				visit(a)
			}
		case *parse.IdentifierNode:
			if strings.HasPrefix(t.Ident, "rand") || t.Ident == "uuidv4" {
				random = true
			}
		case *parse.FieldNode:
			if k := valuesKey(t.Ident); k != "" {
				keys = append(keys, k)
			}
		case *parse.VariableNode:
			if len(t.Ident) == 1 && s.randomVars[t.Ident[0]] {
				random = true
			}
			if len(t.Ident) > 1 && t.Ident[0] == "$" {
				if k := valuesKey(t.Ident[1:]); k != "" {
					keys = append(keys, k)
				}
			}
		case *parse.ChainNode:
			visit(t.Node)
		}
	}
	visit(p)
	if !random {
		return
	}
	for _, v := range p.Decl {
		if len(v.Ident) == 1 {
			s.randomVars[v.Ident[0]] = true
		}
	}
	for _, k := range keys {
		s.report(k)
	}
}

// valuesKey returns the dotted key of a .Values.a.b field, or "".
func valuesKey(ident []string) string {
	if len(ident) < 2 || ident[0] != "Values" {
		return ""
	}
	return strings.Join(ident[1:], ".")
}
