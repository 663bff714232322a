package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ragmigrate/ragmigrate/internal/journal"
	"github.com/ragmigrate/ragmigrate/internal/remote"
)

// Exit codes, listed in the root command's help. Scripts branch on them, so they never change.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitMismatch    = 3
	exitLockHeld    = 4
	exitInterrupted = 130
)

// exitTaskNotStarted: the remote task stopped before its container ran (remote); remote
// otherwise exits with its task's exit code.
const exitTaskNotStarted = 5

// exitWritesAfterCut: replicate cutover found writes to the source after the confirmation that
// they had stopped, and left the replication running.
const exitWritesAfterCut = 6

const exitCodesHelp = `Exit codes:
  0    ok
  1    failure (the error message says what and where)
  2    usage: bad flags or arguments, or a write refused without --yes
  3    verification mismatch: the migrated data differs from its source
  4    lock held: another ragmigrate run is working on the same target
  5    remote: the task never started (ECS's stop reason is printed); otherwise remote
       exits with its task's exit code
  6    replicate cutover refused: the source took writes after the confirmation that writes
       had stopped; the replication keeps running
  130  interrupted (SIGINT/SIGTERM); a re-run continues where this one stopped`

// usageError marks errors caused by how ragmigrate was called rather than by what it found.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// interruptedError is a command's error after SIGINT/SIGTERM: what was interrupted and how to go
// on. The "context canceled" the interrupt caused in whatever was running says neither, so the
// message leaves it out (it stays in the chain); an error of another cause that came with the
// interrupt is kept.
type interruptedError struct {
	msg string
	err error
}

func (e *interruptedError) Error() string {
	msg := "interrupted: " + e.msg
	errs := []error{e.err}
	if j, ok := e.err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap() // errors.Join: keep the parts the interrupt did not cause
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			msg += ": " + err.Error()
		}
	}
	return msg
}

func (e *interruptedError) Unwrap() error { return e.err }

// interrupted wraps err, the error an interrupt caused, in an interruptedError saying what
// stopped and how to continue.
func interrupted(err error, format string, args ...any) error {
	return &interruptedError{msg: fmt.Sprintf(format, args...), err: err}
}

// errMismatch is returned (wrapped) by commands whose check found a difference.
var errMismatch = errors.New("verification mismatch")

// errWritesAfterCut is returned (wrapped) by a cutover that found the source still written to.
var errWritesAfterCut = errors.New("writes to the source have not stopped")

// errLockHeld is journal.ErrLockHeld, the sentinel every run's lock returns (wrapped) when another
// run holds the target's migration lock.
var errLockHeld = journal.ErrLockHeld

// exitCode maps an error from the command tree to the documented exit code, in one place.
func exitCode(ctx context.Context, err error) int {
	var usage usageError
	var taskExit *remote.ExitError
	var notStarted *remote.NotStartedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &taskExit):
		return taskExit.Code
	case errors.As(err, &notStarted):
		return exitTaskNotStarted
	case errors.As(err, &usage) || isCobraUsageError(err):
		return exitUsage
	case errors.Is(err, errMismatch):
		return exitMismatch
	case errors.Is(err, errWritesAfterCut):
		return exitWritesAfterCut
	case errors.Is(err, journal.ErrLockHeld):
		return exitLockHeld
	case ctx.Err() != nil:
		// The root context ends only on SIGINT/SIGTERM: whatever error the interruption caused,
		// the run was interrupted.
		return exitInterrupted
	default:
		return exitFailure
	}
}

// isCobraUsageError recognises the argument errors cobra creates itself (unknown commands and
// argument-count checks); flag errors are wrapped in usageError by the root's FlagErrorFunc.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command ", "accepts ", "requires at least ", "requires at most ", "invalid argument "} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}
