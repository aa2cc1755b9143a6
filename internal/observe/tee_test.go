package observe

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

type named struct {
	name string
	log  *[]string
}

func (n named) Observe(_ *http.Request, rec *Record) { *n.log = append(*n.log, n.name+":"+rec.Router) }

func TestTee(t *testing.T) {
	var log []string
	a, b := named{"a", &log}, named{"b", &log}
	for _, tc := range []struct {
		name string
		obs  []Observer
		want string
		none bool
	}{
		{"none", nil, "[]", true},
		{"only nils", []Observer{nil, nil}, "[]", true},
		{"one", []Observer{a}, "[a:r]", false},
		{"in order, nils skipped", []Observer{b, nil, a, b}, "[b:r a:r b:r]", false},
	} {
		log = nil
		o := Tee(tc.obs...)
		if (o == nil) != tc.none {
			t.Errorf("%s: Tee = %v", tc.name, o)
			continue
		}
		if o != nil {
			o.Observe(httptest.NewRequest("GET", "/", nil), &Record{Router: "r"})
		}
		if got := fmt.Sprint(log); got != tc.want {
			t.Errorf("%s: observed %s, want %s", tc.name, got, tc.want)
		}
	}
	var noLog *AccessLog
	var noTracer *Tracer
	Tee(noLog, noTracer).Observe(httptest.NewRequest("GET", "/", nil), &Record{}) // typed nils do nothing
	if _, ok := Tee(a).(named); !ok {
		t.Error("Tee of one observer wraps it")
	}
}
