package labelexpr

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	labels := map[string]string{"zone": "public", "team": "shop-eu"}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"", true},
		{"Label(`zone`, `public`)", true},
		{`Label("zone", "private")`, false},
		{"Label(`missing`, ``)", false},
		{"!Label(`zone`, `private`)", true},
		{"LabelRegex(`team`, `^shop-`)", true},
		{"LabelRegex(`team`, `^web`)", false},
		{"Name(`app-1`)", true},
		{"Label(`zone`, `x`) || Name(`app-1`) && Label(`team`, `shop-eu`)", true},
		{"(Label(`zone`, `x`) || Name(`app-1`)) && !Label(`team`, `shop-eu`)", false},
	} {
		e, err := Parse(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := e.Match("app-1", labels); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"Label(`a`)":                           "at column 10: Label takes 2 arguments: expected ,",
		"Labl(`a`, `b`)":                       `at column 1: unknown function "Labl"`,
		"Label(`a`, `b`) &&":                   "at column 19: expected Label, LabelRegex, Name, ! or (",
		"(Name(`a`)":                           "at column 11: expected )",
		"Name(`a`) Name(`b`)":                  "at column 11: expected && or || or the end",
		"LabelRegex(`a`, `(`)":                 "LabelRegex(\"a\"): error parsing regexp",
		"Name(`a)":                             "the string is not closed",
		strings.Repeat("!", 200) + "Name(`a`)": "nested too deep",
	} {
		_, err := Parse(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", expr, err, want)
		}
	}
}
