package main

import "fmt"

// skynet is the classic benchmark: goroutine num covers [num, num+size); it
// fans out into div children and sends the sum of their results to c.
func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int) // unbuffered, as in the original benchmark
	for i := 0; i < div; i++ {
		sub := size / div
		go skynet(rc, num+i*sub, sub, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

// skynetBench runs skynet over 1,000,000 leaves with fan-out 10.
func skynetBench() {
	d := timeMedian(func() {
		c := make(chan int)
		go skynet(c, 0, 1_000_000, 10)
		check("skynet", int64(<-c), 499999500000)
	})
	fmt.Printf("skynet %.2f ms\n", ms(d))
}
