package runtime

import (
	"fmt"
	"slices"

	"github.com/usher-lb/usher/internal/config"
	"github.com/usher-lb/usher/internal/deploy"
	"github.com/usher-lb/usher/internal/service"
)

// weighted builds a weighted service over its compiled arms, serving by the
// live weights of its rollout (kept across reloads while the config says the
// same of the service).
func (c *compiler) weighted(name string, w *config.Weighted, arms []service.Arm, sticky *service.Sticky) (*service.Weighted, error) {
	spec := deploy.Spec{Service: name}
	for _, a := range arms {
		spec.Arms = append(spec.Arms, a.Name)
		spec.Weights = append(spec.Weights, a.Weight)
	}
	if cw := w.Canary; cw != nil {
		rate, err := config.ParsePercent(cw.MaxErrorRate)
		if err != nil {
			return nil, fmt.Errorf("canary.maxErrorRate: %w", err)
		}
		spec.Canary = &deploy.Canary{
			Arm: slices.Index(spec.Arms, cw.Service), Steps: slices.Clone(cw.Steps), Interval: cw.Interval.D(),
			MaxErrorRate: rate, MaxP99: cw.MaxP99.D(), MinRequests: cw.MinRequests,
		}
		if spec.Canary.Arm < 0 {
			return nil, fmt.Errorf("canary service %q is not one of the services", cw.Service)
		}
	}
	o := service.WeightedOptions{Sticky: sticky, Live: c.dep.Get(spec).Live()}
	if w.BucketBy != "" {
		b, err := service.NewBucket(w.BucketBy, spec.Arms)
		if err != nil {
			return nil, err
		}
		o.Bucket, o.VariantHeader = b, w.VariantHeader
	}
	return service.NewWeightedWith(name, arms, o)
}
