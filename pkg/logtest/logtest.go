// Package logtest collects output — a logger's, a process's, a terminal's
// — that other goroutines write while a test reads it.
package logtest

import (
	"bytes"
	"slices"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writes and reads: hand it
// to a logger (slog.NewJSONHandler) or an exec.Cmd and read it with
// String while they write. The zero Buffer is empty and ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Lines collects lines (a process's log, read line by line) safe for
// concurrent use. The zero Lines is empty and ready to use.
type Lines struct {
	mu    sync.Mutex
	lines []string
}

// Add appends line.
func (l *Lines) Add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

// String returns the lines so far, joined by newlines.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Index returns the position of the first line containing s, or -1.
func (l *Lines) Index(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.IndexFunc(l.lines, func(line string) bool { return strings.Contains(line, s) })
}
