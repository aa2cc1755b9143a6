package proxy

import (
	"github.com/usher-lb/usher/internal/wire"
)

// isHop tells whether the request or response field k never crosses usher:
// hop-by-hop and framing fields (see wire.IsHopByHop).
func isHop(k string) bool { return wire.IsHopByHop(k) }
