package config

import (
	"fmt"
	"strings"
)

// MarkdownTables renders the inputs and outputs tables for the README, so
// the README is checked against (and regenerated from) the one table.
func MarkdownTables() string {
	var b strings.Builder
	b.WriteString("| Input | Default | Description |\n|---|---|---|\n")
	for _, o := range Options() {
		def := "`" + o.Default + "`"
		switch {
		case o.Required:
			def = "**required**"
		case o.Default == "":
			def = ""
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", o.Name, def, escapeCell(o.Description))
	}
	b.WriteString("\n| Output | Description |\n|---|---|\n")
	for _, o := range Outputs() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", o.Name, escapeCell(o.Description))
	}
	return b.String()
}

func escapeCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
