package remote

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// retry runs f until it succeeds, fails for good or the attempts run out,
// waiting longer between attempts. go-containerregistry retries failed
// requests itself, but not a response body that breaks off while it is
// read, which is what this covers: a blob download starts over.
func retry(ctx context.Context, o Options, f func() error) error {
	b := o.backoff()
	wait := b.Duration
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt >= b.Steps || !retryAgain(err) || ctx.Err() != nil {
			return err
		}
		jitter := time.Duration(rand.Float64() * b.Jitter * float64(wait))
		t := time.NewTimer(wait + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = time.Duration(float64(wait) * b.Factor)
	}
}

// retryAgain reports whether a failed attempt is worth another. An error
// answer from the registry is not: go-containerregistry's transport has
// already retried those status codes that deserve it.
func retryAgain(err error) bool {
	var te *transport.Error
	return isTransient(err) && !errors.As(err, &te)
}
