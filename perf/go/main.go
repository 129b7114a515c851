// Command perf holds the Go twins of goro's benchmarks.
//
// Usage: perf <benchmark>. Each benchmark prints "<metric> <value> <unit>"
// lines on stdout; a wrong result is reported on stderr with exit status 1.
package main

import (
	"fmt"
	"os"
	"sort"
	"time"
)

// benchmarks maps a subcommand name to its implementation.
var benchmarks = map[string]func(){
	"spawn_join": spawnJoin,
	"skynet":     skynetBench,
	"fib":        fibBench,
	"idle":       idleBench,
	"pingpong":   pingpongBench,
	"chan_mpmc":  chanMPMC,
	"select4":    select4Bench,
	"ctx_tree":   ctxTreeBench,
	"mutex":      mutexBench,
	"timers":     timersBench,
}

func main() {
	if len(os.Args) != 2 || benchmarks[os.Args[1]] == nil {
		names := make([]string, 0, len(benchmarks))
		for name := range benchmarks {
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: %s <benchmark>\nbenchmarks: %v\n", os.Args[0], names)
		os.Exit(2)
	}
	benchmarks[os.Args[1]]()
}

// timeMedian runs work once untimed as a warm-up, then times it 3 times and
// returns the median duration.
func timeMedian(work func()) time.Duration {
	work()
	var d [3]time.Duration
	for i := range d {
		start := time.Now()
		work()
		d[i] = time.Since(start)
	}
	sort.Slice(d[:], func(i, j int) bool { return d[i] < d[j] })
	return d[1]
}

// check exits with status 1 if a workload produced a wrong result.
func check(name string, got, want int64) {
	if got != want {
		fmt.Fprintf(os.Stderr, "%s: got %d, want %d\n", name, got, want)
		os.Exit(1)
	}
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
