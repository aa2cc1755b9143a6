package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The README tells operators which GOGC and GOMEMLIMIT usher sets; the
// values it names must be those main sets, read from its source.
func TestREADMEStatesTheGCSettings(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]int64{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 1 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "SetGCPercent" && sel.Sel.Name != "SetMemoryLimit") {
			return true
		}
		tv, err := types.Eval(fset, nil, token.NoPos, types.ExprString(call.Args[0]))
		if err != nil || tv.Value == nil {
			t.Fatalf("%s(%s) is not a constant: %v", sel.Sel.Name, types.ExprString(call.Args[0]), err)
		}
		v, _ := strconv.ParseInt(tv.Value.ExactString(), 10, 64)
		args[sel.Sel.Name] = v
		return true
	})
	gc, okGC := args["SetGCPercent"]
	limit, okLimit := args["SetMemoryLimit"]
	if !okGC || !okLimit || limit%(1<<30) != 0 {
		t.Fatalf("main sets %v; this test expects a GC percent and a whole number of GiB", args)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"`GOGC=" + strconv.FormatInt(gc, 10) + "`",
		"`GOMEMLIMIT=" + strconv.FormatInt(limit>>30, 10) + "GiB`",
		"The environment wins",
	} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not say %s", want)
		}
	}
}
