package api

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usersync/usersync/pkg/model"
)

// reloadingFile holds what parse made of a file that a Kubernetes Secret
// mounts, and parses it again when the file changes (checked at most once
// per checkEvery), so a rotated Secret takes effect without a restart. A
// changed file that fails to parse is logged and the previous value stays
// in force. API_TOKENS_FILE and WEBHOOK_SECRET_FILE are read through it.
type reloadingFile[T any] struct {
	path       string
	what       string // "token file": says what the file is in logs
	checkEvery time.Duration
	parse      func(path string) (T, error)
	// reloaded logs a new value, saying what it holds (never a secret).
	reloaded func(log *slog.Logger, v T)
	log      *slog.Logger

	mu    sync.RWMutex
	value T
	stamp fileStamp
	// nextCheck is when the file may next be stat'ed, in UnixNano; it keeps
	// the syscall off most requests.
	nextCheck atomic.Int64
}

// fileStamp tells whether the file changed since it was read. Kubernetes
// swaps a symlink to a freshly written file, so os.Stat (which follows the
// link) sees a new modification time.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(st os.FileInfo) fileStamp { return fileStamp{mod: st.ModTime(), size: st.Size()} }

// load reads the file the first time; its errors wrap model.ErrInvalid
// when parse's do.
func (f *reloadingFile[T]) load() error {
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	v, stamp, err := f.read()
	if err != nil {
		return err
	}
	f.value, f.stamp = v, stamp
	f.nextCheck.Store(time.Now().Add(f.checkEvery).UnixNano())
	return nil
}

// read stats the file, then parses it.
func (f *reloadingFile[T]) read() (T, fileStamp, error) {
	var zero T
	st, err := os.Stat(f.path)
	if err != nil {
		return zero, fileStamp{}, fmt.Errorf("%w: %s: %w", model.ErrInvalid, f.what, err)
	}
	v, err := f.parse(f.path)
	if err != nil {
		return zero, fileStamp{}, err
	}
	return v, stampOf(st), nil
}

// get returns the value, after rereading the file if it changed; only one
// caller at a time gets to check.
func (f *reloadingFile[T]) get() T {
	f.reloadIfChanged()
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.value
}

func (f *reloadingFile[T]) reloadIfChanged() {
	next := f.nextCheck.Load()
	now := time.Now().UnixNano()
	if now < next || !f.nextCheck.CompareAndSwap(next, now+int64(f.checkEvery)) {
		return
	}
	st, err := os.Stat(f.path)
	if err != nil {
		f.log.Warn(f.what+" unreadable; keeping what was loaded before", "err", err)
		return
	}
	f.mu.RLock()
	same := stampOf(st) == f.stamp
	f.mu.RUnlock()
	if same {
		return
	}
	v, stamp, err := f.read()
	if err != nil {
		f.log.Warn(f.what+" changed but cannot be used; keeping what was loaded before", "err", err)
		return
	}
	f.mu.Lock()
	f.value, f.stamp = v, stamp
	f.mu.Unlock()
	f.reloaded(f.log, v)
}
