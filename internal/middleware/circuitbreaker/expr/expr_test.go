package expr

import (
	"errors"
	"strings"
	"testing"
)

type fixed struct {
	net     float64
	codes   map[[4]int]float64
	latency map[float64]float64
}

func (f fixed) NetworkErrorRatio() float64 { return f.net }
func (f fixed) ResponseCodeRatio(a, b, c, d int) float64 {
	return f.codes[[4]int{a, b, c, d}]
}
func (f fixed) LatencyAtQuantileMS(q float64) float64 { return f.latency[q] }

func TestParseGood(t *testing.T) {
	m := fixed{
		net:     0.6,
		codes:   map[[4]int]float64{{500, 600, 0, 600}: 0.1},
		latency: map[float64]float64{50: 120, 99: 40},
	}
	for _, tc := range []struct {
		src, canon string
		want       bool
	}{
		{"NetworkErrorRatio() > 0.5", "NetworkErrorRatio() > 0.5", true},
		{"  NetworkErrorRatio( )>0.7 ", "NetworkErrorRatio() > 0.7", false},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.25", "ResponseCodeRatio(500, 600, 0, 600) > 0.25", false},
		{"ResponseCodeRatio(500,600,0,600) >= 0.1", "ResponseCodeRatio(500, 600, 0, 600) >= 0.1", true},
		{"LatencyAtQuantileMS(50.0) > 100", "LatencyAtQuantileMS(50) > 100", true},
		{"LatencyAtQuantileMS(99) <= 40", "LatencyAtQuantileMS(99) <= 40", true},
		{"100 < LatencyAtQuantileMS(50)", "100 < LatencyAtQuantileMS(50)", true},
		{"NetworkErrorRatio() == 0.6", "NetworkErrorRatio() == 0.6", true},
		{"NetworkErrorRatio() != 0.6", "NetworkErrorRatio() != 0.6", false},
		{"NetworkErrorRatio() < 5e-1", "NetworkErrorRatio() < 0.5", false},
		{"NetworkErrorRatio() > .5", "NetworkErrorRatio() > 0.5", true},
		{"NetworkErrorRatio() > 0.5 && LatencyAtQuantileMS(50) > 200", "NetworkErrorRatio() > 0.5 && LatencyAtQuantileMS(50) > 200", false},
		{"NetworkErrorRatio() > 0.9 || LatencyAtQuantileMS(50) > 100", "NetworkErrorRatio() > 0.9 || LatencyAtQuantileMS(50) > 100", true},
		// && binds tighter than ||
		{"NetworkErrorRatio() > 0.5 || NetworkErrorRatio() > 0.9 && LatencyAtQuantileMS(50) > 1000",
			"NetworkErrorRatio() > 0.5 || NetworkErrorRatio() > 0.9 && LatencyAtQuantileMS(50) > 1000", true},
		{"(NetworkErrorRatio() > 0.5 || NetworkErrorRatio() > 0.9) && LatencyAtQuantileMS(50) > 1000",
			"(NetworkErrorRatio() > 0.5 || NetworkErrorRatio() > 0.9) && LatencyAtQuantileMS(50) > 1000", false},
		{"((NetworkErrorRatio() > 0.5))", "NetworkErrorRatio() > 0.5", true},
		{"!(NetworkErrorRatio() > 0.5)", "!(NetworkErrorRatio() > 0.5)", false},
		{"!!(NetworkErrorRatio() > 0.5)", "!!(NetworkErrorRatio() > 0.5)", true},
		{"!(NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50) > 1000)", "!(NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(50) > 1000)", false},
		{"NetworkErrorRatio() > 0.5\n&& ResponseCodeRatio(500, 600, 0, 600) > 0.05", "NetworkErrorRatio() > 0.5 && ResponseCodeRatio(500, 600, 0, 600) > 0.05", true},
	} {
		e, err := Parse(tc.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.src, err)
			continue
		}
		if got := e.String(); got != tc.canon {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.src, got, tc.canon)
		}
		if got := e.Eval(m); got != tc.want {
			t.Errorf("Parse(%q).Eval = %v, want %v", tc.src, got, tc.want)
		}
		// The canonical form parses to itself.
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Errorf("canonical form %q does not parse back: %v", e.String(), err)
		}
	}
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		src  string
		col  int
		want string // in the message
	}{
		{"", 1, "empty expression"},
		{"   ", 4, "empty expression"},
		{"NetworkErrorRatio()", 20, "expected a comparison operator"},
		{"NetworkErrorRatio() >", 22, "expected a number or a metric"},
		{"NetworkErrorRatio() > 0.5 &&", 29, "expected a number or a metric"},
		{"NetworkErrorRatio() > 0.5 ||", 29, "found the end of the expression"},
		{"NetworkErrorRatio() > 0.5 & LatencyAtQuantileMS(50) > 1", 27, `"&", which is not part of the language`},
		{"NetworkErrorRatio() > 0.5 and LatencyAtQuantileMS(50) > 1", 27, `expected && or || or the end, found "and"`},
		{"NetworkErrorRatio > 0.5", 19, `expected ( after NetworkErrorRatio, found ">"`},
		{"NetworkErrorRatio(1) > 0.5", 19, "NetworkErrorRatio takes 0 arguments, got 1"},
		{"networkErrorRatio() > 0.5", 1, "did you mean NetworkErrorRatio?"},
		{"ErrorRatio() > 0.5", 1, `unknown function "ErrorRatio"`},
		{"ResponseCodeRatio(500, 600, 0) > 0.5", 30, "ResponseCodeRatio takes 4 arguments, got 3"},
		{"ResponseCodeRatio(500, 600, 0, 600, 1) > 0.5", 37, "takes 4 arguments, got 5"},
		{"ResponseCodeRatio(500 600, 0, 600) > 0.5", 23, "expected , or )"},
		{"ResponseCodeRatio(500, 600,, 600) > 0.5", 28, "expected a number as argument 3"},
		{"ResponseCodeRatio(500.5, 600, 0, 600) > 0.5", 19, "whole numbers"},
		{"ResponseCodeRatio(600, 500, 0, 600) > 0.5", 24, "to must be above from"},
		{"ResponseCodeRatio(500, 600, 600, 0) > 0.5", 34, "dTo must be above dFrom"},
		{"LatencyAtQuantileMS() > 100", 21, "takes 1 argument, got 0"},
		{"LatencyAtQuantileMS(0) > 100", 21, "above 0 and at most 100"},
		{"LatencyAtQuantileMS(101) > 100", 21, "above 0 and at most 100"},
		{"LatencyAtQuantileMS(50 > 100", 24, "expected , or )"},
		{"(NetworkErrorRatio() > 0.5", 27, "expected ) to close the ( at column 1"},
		{"NetworkErrorRatio() > 0.5)", 26, `expected && or || or the end, found ")"`},
		{"()", 2, "empty parentheses"},
		{"1 > 0.5", 1, "between two numbers"},
		{"NetworkErrorRatio() => 0.5", 21, `found "=", which is not part of the language`},
		{"NetworkErrorRatio() = 0.5", 21, `"=", which is not part of the language`},
		{"NetworkErrorRatio() > -1", 23, `"-", which is not part of the language`},
		{"NetworkErrorRatio() > 0.5 → 1", 27, `"→", which is not part of the language`},
		{"NetworkErrorRatio() > 1e", 24, `expected && or || or the end, found "e"`},
	} {
		_, err := Parse(tc.src)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want a parse error", tc.src, err)
			continue
		}
		if pe.Column != tc.col || !strings.Contains(pe.Msg, tc.want) {
			t.Errorf("Parse(%q) = %q, want column %d and %q", tc.src, err, tc.col, tc.want)
		}
	}
}
