package observe

import "net/http"

// Tee returns an Observer that hands each request to every non-nil observer,
// in order. With none it returns nil; with one, that one. A nil *AccessLog or
// *Tracer in an Observer (a feature not configured) is harmless: their
// Observe does nothing on a nil receiver.
func Tee(obs ...Observer) Observer {
	var t tee
	for _, o := range obs {
		if o != nil {
			t = append(t, o)
		}
	}
	switch len(t) {
	case 0:
		return nil
	case 1:
		return t[0]
	}
	return t
}

type tee []Observer

func (t tee) Observe(r *http.Request, rec *Record) {
	for _, o := range t {
		o.Observe(r, rec)
	}
}
