package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// What go-containerregistry retries, and what this package adds:
//
//   - ggcr's transport retries a request whose response has one of the
//     status codes of WithRetryStatusCodes, or that failed with a
//     "temporary" error, before any of its body is read: manifest and
//     token requests, a blob GET answered 503. It cannot retry a body
//     that breaks half-way: a blob GET whose connection resets mid-stream
//     surfaces to whoever reads the layer (the store's writeLayer), and
//     the pull fails.
//   - ggcr's writer retries a whole blob upload (HEAD, POST, PATCH, PUT)
//     on temporary errors, EOF and ECONNRESET, silently: nobody learns of
//     the retry, its error or its wait, and it does not stop waiting when
//     the context ends.
//
// So blob transfers retry themselves: uploads go through ggcr's Pusher
// with its retries off, attempt by attempt (retryPolicy.do); downloads are
// GETs of their own (retry_range.go) that resume where the stream broke
// with a Range request (resumingReader). Each retry is reported to
// Options.Progress with its error and wait, the wait ends with the
// context, and a download is checked against its size and digest (and
// again by the store that writes it). Manifests and tokens keep ggcr's
// transport retries.

// retryPolicy is how often and how patiently a blob transfer is retried.
type retryPolicy struct {
	attempts int           // in all, the first included
	first    time.Duration // wait before the second attempt
	factor   float64       // each later wait is factor times the one before
}

func policyFor(opts Options) retryPolicy {
	return retryPolicy{attempts: 4, first: cmpOr(opts.RetryBackoff, time.Second), factor: 3}
}

// do runs fn until it succeeds, fails with an error retryableErr says is
// final, or has had p.attempts attempts. onRetry is told of each retry
// before its wait.
func (p retryPolicy) do(ctx context.Context, fn func(attempt int) error, onRetry func(attempt int, err error, wait time.Duration)) error {
	for attempt := 1; ; attempt++ {
		err := fn(attempt)
		if err == nil || attempt >= p.attempts || !retryableErr(ctx, err) {
			return err
		}
		wait := p.wait(attempt)
		if onRetry != nil {
			onRetry(attempt, err, wait)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryableErr reports whether a blob transfer that failed with err may
// succeed on another attempt: a registry answering 408, 429 or 5xx, or a
// connection that failed, reset or ended early.
func retryableErr(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusRequestTimeout ||
			te.StatusCode == http.StatusTooManyRequests || te.Temporary()
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// blobOptions are remoteOptions with go-containerregistry's own retries
// off: blob transfers retry themselves (see above).
func blobOptions(ctx context.Context, opts Options) []remote.Option {
	return append(remoteOptions(ctx, opts),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
		remote.WithJobs(cmpOr(opts.Jobs, DefaultJobs)),
	)
}
