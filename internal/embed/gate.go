package embed

import (
	"context"
	"errors"

	"github.com/aws/smithy-go/middleware"
)

// errHeldBack is what a provider call returns when its gate closed before
// the request went on the wire: nothing was sent.
var errHeldBack = errors.New("held back before sending: the provider throttled a request since the limiter let this one go")

type gateKey struct{}

// withGate carries open, asked right before a request goes on the wire: a
// request the limiter let go before the provider's first throttle came back
// would be throttled too, and is held back instead (see Batcher.send).
func withGate(ctx context.Context, open func() bool) context.Context {
	return context.WithValue(ctx, gateKey{}, open)
}

// gateOpen reports whether ctx's request may go on the wire.
func gateOpen(ctx context.Context) bool {
	open, _ := ctx.Value(gateKey{}).(func() bool)
	return open == nil || open()
}

// gateMiddleware asks the gate at the end of the SDK's finalize step, after
// the request is built and signed, the last moment before it is sent.
func gateMiddleware(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("ragmigrateSendGate",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if !gateOpen(ctx) {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, errHeldBack
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}
