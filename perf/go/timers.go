// timers: 100,000 goroutines each sleep 100 ms, all at once (time.Sleep). C++ twin:
// perf/timers.cpp, which describes the metrics: timers_wall (ms from the first spawn
// until all woke) and timers_overshoot_p50/_p99/_max (us, wake - (start + 100 ms) as
// each goroutine measures it), and a comment line with the spread of the start times.
// The same iterations run again with one shared deadline, 100 ms after the first spawn
// (timers_shared_p50/_p99/_max). A negative overshoot (an early wake) exits 1. Each metric
// is the median over 5 timed iterations after one untimed warm-up.

package main

import (
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

const (
	timersTasks      = 100_000
	timersPeriod     = 100 * time.Millisecond
	timersIterations = 5
)

type timersSample struct {
	start     time.Time
	overshoot time.Duration
}

// timersSleeper sleeps until shared, or for timersPeriod from its own start if shared is zero.
func timersSleeper(out *timersSample, wg *sync.WaitGroup, shared time.Time) {
	start := time.Now()
	deadline := shared
	if deadline.IsZero() {
		deadline = start.Add(timersPeriod)
	}
	time.Sleep(time.Until(deadline))
	out.start = start
	out.overshoot = time.Since(deadline) // monotonic clock readings
	wg.Done()
}

type timersResult struct{ wall, p50, p99, max, startSpread time.Duration }

func timersOnce(sharedDeadline bool) timersResult {
	samples := make([]timersSample, timersTasks) // slot i written by goroutine i
	var wg sync.WaitGroup
	wg.Add(timersTasks)
	start := time.Now()
	var shared time.Time
	if sharedDeadline {
		shared = start.Add(timersPeriod)
	}
	for i := range samples {
		go timersSleeper(&samples[i], &wg, shared)
	}
	wg.Wait()
	wall := time.Since(start)
	first, last := samples[0].start, samples[0].start
	overshoot := make([]time.Duration, timersTasks)
	for i, s := range samples {
		if s.start.Before(first) {
			first = s.start
		}
		if s.start.After(last) {
			last = s.start
		}
		overshoot[i] = s.overshoot
	}
	sort.Slice(overshoot, func(i, j int) bool { return overshoot[i] < overshoot[j] })
	if overshoot[0] < 0 {
		fmt.Fprintf(os.Stderr, "timers: a goroutine woke %v before its deadline\n", -overshoot[0])
		os.Exit(1)
	}
	return timersResult{wall, overshoot[timersTasks/2], overshoot[timersTasks*99/100], overshoot[timersTasks-1], last.Sub(first)}
}

func timersBench() {
	timersOnce(false) // warm-up
	var wall, p50, p99, max, spread, sharedP50, sharedP99, sharedMax []time.Duration
	for i := 0; i < timersIterations; i++ {
		r := timersOnce(false)
		wall = append(wall, r.wall)
		p50 = append(p50, r.p50)
		p99 = append(p99, r.p99)
		max = append(max, r.max)
		spread = append(spread, r.startSpread)
		s := timersOnce(true)
		sharedP50 = append(sharedP50, s.p50)
		sharedP99 = append(sharedP99, s.p99)
		sharedMax = append(sharedMax, s.max)
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	fmt.Printf("timers_wall %.2f ms\n", ms(median(wall)))
	fmt.Printf("timers_overshoot_p50 %.1f us\n", us(median(p50)))
	fmt.Printf("timers_overshoot_p99 %.1f us\n", us(median(p99)))
	fmt.Printf("timers_overshoot_max %.1f us\n", us(median(max)))
	fmt.Printf("timers_shared_p50 %.1f us\n", us(median(sharedP50)))
	fmt.Printf("timers_shared_p99 %.1f us\n", us(median(sharedP99)))
	fmt.Printf("timers_shared_max %.1f us\n", us(median(sharedMax)))
	fmt.Printf("# timers: the goroutines started within %.2f ms (median)\n", ms(median(spread)))
}
