package remote

import (
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

// Options configures Pull, Head and Push. The zero value is usable.
type Options struct {
	// Keychain finds credentials for a registry. Nil means Docker's: the
	// config.json in $DOCKER_CONFIG or ~/.docker, with its credential
	// helpers (see DockerConfigKeychain for a fixed directory).
	Keychain authn.Keychain
	// Insecure lists registries ("host" or "host:port") reached over plain
	// HTTP. Loopback registries (localhost, 127.0.0.0/8, [::1]) always
	// are; every other registry must speak TLS.
	Insecure []string
	// Transport carries the HTTP requests; nil means
	// go-containerregistry's remote.DefaultTransport.
	Transport http.RoundTripper
	// Progress, when set, receives per-blob progress. Calls are
	// serialized, so it needs no locking of its own.
	Progress func(Update)
	// Jobs is how many blobs are transferred at once; 0 means 4.
	Jobs int
	// MountFrom lists repositories ("registry/path") that may already
	// hold some of the blobs Push uploads, such as the base image's.
	// Blobs missing from the target repository are mounted from the
	// first one on the same registry instead of uploaded; a registry
	// that cannot mount falls back to uploading.
	MountFrom []string
	// RetryDelay is the wait before the first retry of a transient
	// failure; each later wait is three times longer. 0 means 1s.
	RetryDelay time.Duration
}

// Update reports progress on one blob.
type Update struct {
	// Ref is the image reference being pulled or pushed.
	Ref string
	// Digest is the blob's digest.
	Digest digest.Digest
	// Action is ActionPull, ActionPush, ActionExists or ActionMounted.
	Action string
	// Done and Total are bytes transferred and expected. For
	// ActionExists and ActionMounted, Done equals Total.
	Done, Total int64
}

// Update actions.
const (
	// ActionPull is a blob being downloaded.
	ActionPull = "pull"
	// ActionPush is a blob being uploaded.
	ActionPush = "push"
	// ActionExists is a blob that needed no transfer: the store (pull) or
	// the registry (push) already had it.
	ActionExists = "exists"
	// ActionMounted is a blob the registry linked from another repository.
	ActionMounted = "mounted"
)

const (
	defaultJobs       = 4
	defaultRetryDelay = time.Second
	// retrySteps is how many times a transient failure is tried in all.
	retrySteps = 4
)

func (o Options) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return defaultJobs
}

func (o Options) backoff() remote.Backoff {
	d := o.RetryDelay
	if d <= 0 {
		d = defaultRetryDelay
	}
	return remote.Backoff{Duration: d, Factor: 3, Jitter: 0.1, Steps: retrySteps}
}

func (o Options) keychain() authn.Keychain {
	if o.Keychain != nil {
		return o.Keychain
	}
	return authn.NewMultiKeychain(authn.DefaultKeychain)
}

func (o Options) transport() http.RoundTripper {
	if o.Transport != nil {
		return o.Transport
	}
	return remote.DefaultTransport
}

// reporter serializes progress callbacks.
type reporter struct {
	mu  sync.Mutex
	fn  func(Update)
	ref string
	// sizes are the known blob sizes, for answers that carry none.
	sizes map[digest.Digest]int64
}

func newReporter(fn func(Update), ref string) *reporter {
	return &reporter{fn: fn, ref: ref}
}

// size returns the known size of blob d, or fallback.
func (r *reporter) size(d digest.Digest, fallback int64) int64 {
	if n, ok := r.sizes[d]; ok {
		return n
	}
	return fallback
}

func (r *reporter) report(d digest.Digest, action string, done, total int64) {
	if r == nil || r.fn == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(Update{Ref: r.ref, Digest: d, Action: action, Done: done, Total: total})
}

// retryStatusCodes are the answers worth asking again: server errors and
// rate limiting.
func retryStatusCodes() []int {
	return []int{
		http.StatusInternalServerError,
		http.StatusBadGateway,
		http.StatusServiceUnavailable,
		http.StatusGatewayTimeout,
		http.StatusTooManyRequests,
	}
}

// remoteOptions builds go-containerregistry's options for one operation.
func (o Options) remoteOptions(rep *reporter) []remote.Option {
	var rt http.RoundTripper = &schemeGuard{next: o.transport(), insecure: o.Insecure}
	if rep != nil && rep.fn != nil {
		rt = &pushObserver{next: rt, rep: rep}
	}
	return []remote.Option{
		remote.WithTransport(rt),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithJobs(o.jobs()),
		remote.WithRetryBackoff(o.backoff()),
		remote.WithRetryStatusCodes(retryStatusCodes()...),
		remote.WithRetryPredicate(isTransient),
	}
}
