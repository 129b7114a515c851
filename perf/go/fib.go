package main

import "fmt"

// fib is fork-join Fibonacci: fib(n-1) runs in a new goroutine while the
// caller computes fib(n-2), then joins through the channel.
func fib(n int) int {
	if n < 2 {
		return n
	}
	c := make(chan int, 1)
	go func() { c <- fib(n - 1) }()
	b := fib(n - 2)
	return <-c + b
}

// fibBench times fib(27).
func fibBench() {
	d := timeMedian(func() { check("fib", int64(fib(27)), 196418) })
	fmt.Printf("fib %.2f ms\n", ms(d))
}
