package runtime

import (
	"net/http"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/observe"
	"github.com/usher-lb/usher/internal/service"
)

// compare builds what the mirror service name compares of its mirrors'
// responses; nil without compare. Its counters are the metrics', which
// outlive snapshots: counts go on across reloads.
func (c *compiler) compare(name string, mc *config.MirrorCompare) *service.Compare {
	if mc == nil {
		return nil
	}
	cmp := &service.Compare{
		Status:  mc.Status == nil || *mc.Status,
		Body:    mc.Body == nil || *mc.Body,
		MaxBody: int64(mc.MaxBodySize),
		Log:     c.st.Log,
	}
	if cmp.MaxBody <= 0 {
		cmp.MaxBody = int64(config.MirrorCompareMaxBodySize)
	}
	for _, h := range mc.Headers {
		cmp.Headers = append(cmp.Headers, http.CanonicalHeaderKey(h))
	}
	metrics := c.st.Metrics
	cmp.Count = func(mirror, field, header, result string) observe.Counter {
		return metrics.MirrorCompare(name, mirror, field, header, result)
	}
	return cmp
}
