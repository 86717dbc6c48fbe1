// Renders an Ollama Modelfile's TEMPLATE the way Ollama's chat endpoint does (its
// server/routes.go and template/template.go, as documented in afinar/export/modelfile.py),
// with Go's own text/template: the test's independent reference for the Modelfile afinar writes.
//
// stdin: {"template": "...", "system": "...", "messages": [{"role": ..., "content": ...}]}
// stdout: the rendered prompt.
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type input struct {
	Template string    `json:"template"`
	System   string    `json:"system"`
	Messages []message `json:"messages"`
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	msgs := in.Messages
	// The Modelfile's SYSTEM goes first when the request's first message is not a system one.
	if (len(msgs) == 0 || msgs[0].Role != "system") && in.System != "" {
		msgs = append([]message{{Role: "system", Content: in.System}}, msgs...)
	}
	// Messages of the same role in a row are joined; every system message also goes to .System.
	var collated []message
	var systems []string
	for _, m := range msgs {
		if m.Role == "system" {
			systems = append(systems, m.Content)
		}
		if n := len(collated); n > 0 && collated[n-1].Role == m.Role {
			collated[n-1].Content += "\n\n" + m.Content
			continue
		}
		collated = append(collated, m)
	}
	tmpl := template.Must(template.New("").Option("missingkey=zero").Parse(in.Template))
	values := map[string]any{"System": strings.Join(systems, "\n\n"), "Messages": collated, "Response": ""}
	if err := tmpl.Execute(os.Stdout, values); err != nil {
		panic(err)
	}
}
