package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Canary moves traffic to one service of a weighted service step by step,
// promoting it while its own figures stay within the thresholds and taking
// all its traffic away at once when they do not.
type Canary struct {
	Service      string   `json:"service" doc:"the service of weighted.services that is the canary"`
	Steps        []int    `json:"steps,omitempty" doc:"the canary's share of traffic at each step, in percent, increasing, 1 to 100; default [10, 50, 100]"`
	Interval     Duration `json:"interval,omitempty" doc:"how long each step runs before it is judged; default 1m"`
	MaxErrorRate string   `json:"maxErrorRate,omitempty" doc:"most 5xx among the canary's responses of a step, a percentage (1% or 1); default 1%"`
	MaxP99       Duration `json:"maxP99,omitempty" doc:"slowest 99th-percentile duration of the canary's responses of a step; default 0 = not checked"`
	MinRequests  int      `json:"minRequests,omitempty" doc:"requests the canary must have answered in a step before it is judged; fewer: not enough traffic, the step waits; default 20"`
}

// The defaults of a canary.
var (
	CanarySteps        = []int{10, 50, 100}
	CanaryInterval     = time.Minute
	CanaryMaxErrorRate = "1%"
	CanaryMinRequests  = 20
	// VariantHeader is the request header that tells servers the variant
	// (the service) a bucketed request was sent to.
	VariantHeader = "X-Usher-Variant"
)

func (c *Canary) applyDefaults() {
	if c == nil {
		return
	}
	if len(c.Steps) == 0 {
		c.Steps = append([]int(nil), CanarySteps...)
	}
	orDur(&c.Interval, CanaryInterval)
	orStr(&c.MaxErrorRate, CanaryMaxErrorRate)
	orN(&c.MinRequests, CanaryMinRequests)
}

// ParsePercent reads a percentage, "1%", "0.5%" or "1" (percent either
// way), as a fraction of one.
func ParsePercent(s string) (float64, error) {
	t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f > 100 || f != f {
		return 0, fmt.Errorf("expected a percentage from 0%% to 100%% (like 1%% or 0.5%%), got %q", clip(s))
	}
	return f / 100, nil
}
