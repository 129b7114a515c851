// Command perf holds the Go twins of goro's benchmarks.
//
// Usage: perf <benchmark>. Each benchmark prints "<metric> <value> <unit>"
// lines on stdout; a wrong result is reported on stderr with exit status 1.
//
// Usage: perf <server> [--port N]. A server of the network benchmarks listens on
// 127.0.0.1:N (0, the default: an ephemeral port), prints "listening on ADDR" as its
// first line and serves until killed; perf/run.py drives it with a load client.
package main

import (
	"flag"
	"fmt"
	"net"
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

// servers maps a subcommand name to a server of the network benchmarks.
var servers = map[string]func(net.Listener){
	"tcp_echo":   tcpEchoServer,
	"http_hello": httpHelloServer,
}

func main() {
	if len(os.Args) == 2 && benchmarks[os.Args[1]] != nil {
		benchmarks[os.Args[1]]()
		return
	}
	if len(os.Args) >= 2 && servers[os.Args[1]] != nil {
		serve(os.Args[1], os.Args[2:])
		return
	}
	names := make([]string, 0, len(benchmarks)+len(servers))
	for name := range benchmarks {
		names = append(names, name)
	}
	for name := range servers {
		names = append(names, name+" [--port N]")
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: %s <benchmark> | <server> [--port N]\nbenchmarks and servers: %v\n", os.Args[0], names)
	os.Exit(2)
}

// serve listens on 127.0.0.1:--port, prints the address and runs the server name.
func serve(name string, args []string) {
	flags := flag.NewFlagSet(name, flag.ExitOnError)
	port := flags.Int("port", 0, "port on 127.0.0.1; 0: an ephemeral port")
	flags.Parse(args)
	if flags.NArg() != 0 || *port < 0 || *port > 65535 {
		flags.Usage()
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr()) // os.Stdout is unbuffered
	servers[name](ln)
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
