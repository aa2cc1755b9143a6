//go:build !linux

package loadgen

import (
	"context"
	"errors"
)

// Elsewhere than Linux, HTTP/1.1 in the clear runs on the goroutine engine.
const haveLoops = false

func (r *run) loops([]byte) (func(context.Context) error, error) {
	return nil, errors.New("no event loops on this system")
}
