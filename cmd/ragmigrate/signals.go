package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// lastWordsWait bounds what a second signal still lets a command do before the process exits.
// ECS sends SIGKILL 30 s after its SIGTERM by default; an operator who pressed Ctrl-C twice
// waits no longer than this.
const lastWordsWait = 2 * time.Second

// interrupts are the process's SIGINT/SIGTERM. The first cancels the commands' context: they
// stop where a re-run continues, and finish the work already paid for (a bot's vectors being
// written, a COMMIT). The second (an impatient operator, GNU timeout signalling the whole process
// group, ECS's SIGTERM repeated before its SIGKILL) ends the process: at once, as the signal's
// default action does, unless a command registered last words with atSecondSignal (worker
// --run gives back its leases, so that its bots are not left waiting for them to expire); then
// those run, bounded by lastWordsWait, and the process exits 130.
type interrupts struct {
	mu    sync.Mutex
	next  int
	words map[int]func(context.Context)
	// ending is closed once the last words of a second signal are said; nil before one.
	ending chan struct{}
}

type interruptsKey struct{}

// notifyInterrupts returns a context that the first SIGINT/SIGTERM cancels, and handles the
// second. Both signals are caught by one channel registered from the start, so that two sent at
// once (a process group's) are both seen.
func notifyInterrupts(parent context.Context) (context.Context, func()) {
	irq := &interrupts{words: map[int]func(context.Context){}}
	ctx, cancel := context.WithCancelCause(context.WithValue(parent, interruptsKey{}, irq))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		cancel(errors.New(sig.String() + " signal received"))
		sig = <-sigs
		if irq.second() {
			os.Exit(exitInterrupted)
		}
		// Nothing to say last: the signal's default action, as without this handler (the exit
		// after it only if the signal were somehow not delivered).
		signal.Reset(os.Interrupt, syscall.SIGTERM)
		if s, ok := sig.(syscall.Signal); ok {
			syscall.Kill(os.Getpid(), s)
			time.Sleep(time.Second)
		}
		os.Exit(exitInterrupted)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
		// The command may end while its last words are said: the process waits for them.
		irq.mu.Lock()
		ending := irq.ending
		irq.mu.Unlock()
		if ending != nil {
			<-ending
		}
	}
}

// atSecondSignal registers f to run when a second SIGINT/SIGTERM ends the process, with a
// context of its own that ends after lastWordsWait; remove unregisters it. Outside main (tests
// calling run), it does nothing.
func atSecondSignal(ctx context.Context, f func(context.Context)) (remove func()) {
	irq, _ := ctx.Value(interruptsKey{}).(*interrupts)
	if irq == nil {
		return func() {}
	}
	irq.mu.Lock()
	defer irq.mu.Unlock()
	id := irq.next
	irq.next++
	irq.words[id] = f
	return func() {
		irq.mu.Lock()
		defer irq.mu.Unlock()
		delete(irq.words, id)
	}
}

// second runs the registered last words at once, each bounded by lastWordsWait, and tells
// whether there were any.
func (irq *interrupts) second() bool {
	irq.mu.Lock()
	fns := make([]func(context.Context), 0, len(irq.words))
	for _, f := range irq.words {
		fns = append(fns, f)
	}
	if len(fns) == 0 {
		irq.mu.Unlock()
		return false
	}
	irq.ending = make(chan struct{})
	defer close(irq.ending)
	irq.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), lastWordsWait)
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Go(func() { f(ctx) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	// A function that ignores its context does not hold the process beyond the bound.
	select {
	case <-done:
	case <-time.After(lastWordsWait + 500*time.Millisecond):
	}
	return true
}
