// pingpong: two goroutines bounce an int over two unbuffered channels, 1M round trips. C++ twin: perf/pingpong.cpp.

package main

import "fmt"

const pingpongRounds = 1_000_000

// ponger answers every ping with the value plus one; closes pong once ping is
// closed.
func ponger(ping <-chan int, pong chan<- int) {
	for {
		v, ok := <-ping
		if !ok {
			break
		}
		pong <- v + 1
	}
	close(pong)
}

func pingpongBench() {
	d := timeMedian(func() {
		ping, pong := make(chan int), make(chan int) // unbuffered
		go ponger(ping, pong)
		var sum int64
		for i := 0; i < pingpongRounds; i++ {
			ping <- i
			v := <-pong
			sum += int64(v)
		}
		close(ping)
		_, ok := <-pong // the ponger has finished once pong is closed
		if ok {
			check("pingpong closed", 1, 0)
		}
		check("pingpong", sum, pingpongRounds*(pingpongRounds+1)/2)
	})
	fmt.Printf("pingpong %.1f ns\n", float64(d.Nanoseconds())/pingpongRounds)
}
