package main

import (
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"
)

// cpuTime returns the user+system CPU time consumed so far by this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "getrusage:", err)
		os.Exit(1)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleBench measures what an idle program costs: CPU burnt while sleeping
// for 1 s after a 50 ms settling sleep (percent of one core), and the median
// overshoot of a 1 ms sleep.
func idleBench() {
	const period = time.Second
	time.Sleep(50 * time.Millisecond) // start-up is not idleness: let the runtime settle
	before := cpuTime()
	time.Sleep(period)
	used := cpuTime() - before
	fmt.Printf("idle_cpu %.3f %%\n", 100*float64(used)/float64(period))

	const wakes = 200
	over := make([]time.Duration, wakes)
	for i := range over {
		start := time.Now()
		time.Sleep(time.Millisecond)
		over[i] = time.Since(start) - time.Millisecond
	}
	sort.Slice(over, func(i, j int) bool { return over[i] < over[j] })
	median := (over[wakes/2-1] + over[wakes/2]) / 2
	fmt.Printf("idle_wake %.1f us\n", float64(median)/float64(time.Microsecond))
}
