// ctx_tree: cancelling a tree of 111,111 cancel contexts with 100,000 parked waiters.
// C++ twin: perf/ctx_tree.cpp.
//
// One iteration:
//  1. build (timed: ctx_tree_build): a root context.WithCancel(context.Background()),
//     then 5 levels of fan-out 10, each node WithCancel(its parent): 10 + 100 + 1,000 +
//     10,000 + 100,000 = 111,110 cancel contexts below the root, 111,111 with it.
//     Contexts and cancel functions are kept in one slice per level, allocated before
//     the clock starts.
//  2. one goroutine per leaf (100,000) receives from that leaf's Done(). Each calls
//     parked.Done() just before the receive; once main's parked.Wait() returns, main
//     dumps every goroutine's stack (runtime.Stack, untimed) until it counts 100,000
//     goroutines blocked in a channel receive, so all waiters are parked. Main then
//     sleeps 10 ms so that every P is idle when the clock starts (as the C++ twin does).
//  3. cancel (timed: ctx_tree_cancel): from calling the root's cancel until main's
//     woke.Wait() returns; each waiter calls woke.Done() as soon as its receive returns.
//  4. checks: every leaf's Err() is context.Canceled; else exit 1.
//
// Each metric is the median of 3 timed iterations after one untimed warm-up, as
// timeMedian does. A comment line reports how long the root's cancel call itself took.

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"
)

const (
	ctxFanout   = 10
	ctxDepth    = 5
	ctxLeaves   = 100_000 // ctxFanout ^ ctxDepth
	ctxContexts = 111_111 // the root and its 111,110 descendants
)

type ctxNode struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func ctxTreeWaiter(leaf context.Context, parked, woke *sync.WaitGroup) {
	parked.Done()
	<-leaf.Done()
	woke.Done()
}

// stackDump receives runtime.Stack's output. It is mapped outside the Go heap, so that
// it does not change the GC's pacing.
var stackDump []byte

func mapStackDump(size int) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctx_tree: mmap:", err)
		os.Exit(1)
	}
	stackDump = b
}

// waitersParked counts the goroutines blocked in a channel receive (only the waiters
// receive) in a dump of every goroutine's stack, which stops the world while it is
// written.
func waitersParked() int {
	if stackDump == nil {
		mapStackDump(64 << 20) // about 250 bytes per goroutine are needed
	}
	for {
		n := runtime.Stack(stackDump, true)
		if n < len(stackDump) {
			return bytes.Count(stackDump[:n], []byte("[chan receive"))
		}
		size := 2 * len(stackDump)
		if err := syscall.Munmap(stackDump); err != nil {
			fmt.Fprintln(os.Stderr, "ctx_tree: munmap:", err)
			os.Exit(1)
		}
		mapStackDump(size)
	}
}

type ctxTimings struct{ build, cancel, cancelCall time.Duration }

func ctxTree() ctxTimings {
	levels := make([][]ctxNode, ctxDepth+1)
	for d, n := 0, 1; d <= ctxDepth; d, n = d+1, n*ctxFanout {
		levels[d] = make([]ctxNode, 0, n)
	}

	t0 := time.Now()
	root, cancelRoot := context.WithCancel(context.Background())
	levels[0] = append(levels[0], ctxNode{root, cancelRoot})
	for d := 1; d <= ctxDepth; d++ {
		for _, parent := range levels[d-1] {
			for k := 0; k < ctxFanout; k++ {
				ctx, cancel := context.WithCancel(parent.ctx)
				levels[d] = append(levels[d], ctxNode{ctx, cancel})
			}
		}
	}
	build := time.Since(t0)
	built := 0
	for _, level := range levels {
		built += len(level)
	}
	check("ctx_tree contexts", int64(built), ctxContexts)
	check("ctx_tree leaves", int64(len(levels[ctxDepth])), ctxLeaves)

	var parked, woke sync.WaitGroup
	parked.Add(ctxLeaves)
	woke.Add(ctxLeaves)
	for _, leaf := range levels[ctxDepth] {
		go ctxTreeWaiter(leaf.ctx, &parked, &woke)
	}
	parked.Wait()
	for tries := 0; waitersParked() < ctxLeaves; tries++ {
		if tries == 1000 {
			fmt.Fprintln(os.Stderr, "ctx_tree: the waiters were not all parked after 1000 checks, 1 ms apart")
			os.Exit(1)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // every P idle, as in the C++ twin

	t2 := time.Now()
	cancelRoot()
	cancelCall := time.Since(t2)
	woke.Wait()
	cancel := time.Since(t2)

	canceled := 0
	for _, leaf := range levels[ctxDepth] {
		if leaf.ctx.Err() == context.Canceled {
			canceled++
		}
	}
	check("ctx_tree leaves whose Err() is Canceled", int64(canceled), ctxLeaves)
	for _, level := range levels {
		for _, n := range level {
			n.cancel() // already cancelled: releases nothing more, keeps vet's lostcancel quiet
		}
	}
	return ctxTimings{build, cancel, cancelCall}
}

func ctxTreeBench() {
	ctxTree() // warm-up
	var build, cancel, cancelCall []time.Duration
	for i := 0; i < 3; i++ {
		t := ctxTree()
		build = append(build, t.build)
		cancel = append(cancel, t.cancel)
		cancelCall = append(cancelCall, t.cancelCall)
	}
	median := func(d []time.Duration) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return ms(d[len(d)/2])
	}
	fmt.Printf("# ctx_tree: %d cancel contexts (root included), %d parked waiters\n", ctxContexts, ctxLeaves)
	fmt.Printf("ctx_tree_build %.2f ms\n", median(build))
	fmt.Printf("ctx_tree_cancel %.2f ms\n", median(cancel))
	fmt.Printf("# ctx_tree: the root's cancel call returned after %.2f ms (median)\n", median(cancelCall))
}
