package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/usher-lb/usher/internal/bucketkey"
)

// deployment checks the canary and bucketBy of a weighted service.
func (v *validator) deployment(p string, w *Weighted) {
	if c := w.Canary; c != nil {
		v.canary(p+".canary", w, c)
	}
	if w.BucketBy != "" {
		if err := CheckBucketBy(w.BucketBy); err != nil {
			v.add(p+".bucketBy", "%v", err)
		}
		if w.Sticky != nil {
			v.add(p+".bucketBy", "bucketBy and sticky both pin a user to a service; keep one")
		}
		if w.VariantHeader != "" && !isToken(w.VariantHeader) {
			v.add(p+".variantHeader", "%q is not a valid header name", w.VariantHeader)
		}
	}
}

func (v *validator) canary(p string, w *Weighted, c *Canary) {
	arms, others := 0, 0
	var names []string
	for _, ws := range w.Services {
		names = append(names, ws.Name)
		if ws.Name == c.Service {
			arms++
		} else if ws.Weight == nil || *ws.Weight > 0 {
			others++
		}
	}
	switch {
	case c.Service == "":
		v.add(p+".service", "the canary service is required: one of %s", strings.Join(names, ", "))
	case arms == 0:
		v.add(p+".service", "%q is not one of this weighted service's services (%s)%s", c.Service, strings.Join(names, ", "), didYouMean(c.Service, names))
	case arms > 1:
		v.add(p+".service", "%q is listed %d times in services; a canary must be listed once", c.Service, arms)
	case others == 0:
		v.add(p+".service", "the canary needs another service with a weight above 0 to take the traffic it does not get")
	}
	prev := 0
	for i, s := range c.Steps {
		sp := fmt.Sprintf("%s.steps[%d]", p, i)
		switch {
		case s < 1 || s > 100:
			v.add(sp, "a step is the canary's share in percent, 1 to 100, got %d", s)
		case s <= prev:
			v.add(sp, "steps must increase, got %d after %d", s, prev)
		}
		prev = s
	}
	if c.Interval != 0 && c.Interval.D() < 10*time.Millisecond {
		v.add(p+".interval", "interval must be 10ms or more, got %s", c.Interval.D())
	}
	if _, err := ParsePercent(c.MaxErrorRate); c.MaxErrorRate != "" && err != nil {
		v.add(p+".maxErrorRate", "%v", err)
	}
	if c.MinRequests < 0 {
		v.add(p+".minRequests", "must be 0 or more, got %d", c.MinRequests)
	}
}

// CheckBucketBy tells whether spec is a key users can be bucketed by.
func CheckBucketBy(spec string) error {
	_, err := bucketkey.Parse(spec)
	return err
}
