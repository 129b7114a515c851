// chan_mpmc: 4 producers, 4 consumers, one channel of capacity 1024, 10M items. C++ twin: perf/chan_mpmc.cpp.

package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

const (
	mpmcProducers   = 4
	mpmcConsumers   = 4
	mpmcCapacity    = 1024
	mpmcItems       = 10_000_000
	mpmcPerProducer = mpmcItems / mpmcProducers
)

// mpmcProducer sends [first, first+mpmcPerProducer).
func mpmcProducer(out chan<- int, first int, wg *sync.WaitGroup) {
	for i := first; i < first+mpmcPerProducer; i++ {
		out <- i
	}
	wg.Done()
}

// mpmcConsumer sums what it receives until the channel is closed and drained.
func mpmcConsumer(in <-chan int, sum *atomic.Int64, wg *sync.WaitGroup) {
	var local int64
	for {
		v, ok := <-in
		if !ok {
			break
		}
		local += int64(v)
	}
	sum.Add(local)
	wg.Done()
}

func chanMPMC() {
	d := timeMedian(func() {
		ch := make(chan int, mpmcCapacity)
		var sent, received sync.WaitGroup
		var sum atomic.Int64
		received.Add(mpmcConsumers)
		for c := 0; c < mpmcConsumers; c++ {
			go mpmcConsumer(ch, &sum, &received)
		}
		sent.Add(mpmcProducers)
		for p := 0; p < mpmcProducers; p++ {
			go mpmcProducer(ch, p*mpmcPerProducer, &sent)
		}
		sent.Wait()
		close(ch)
		received.Wait()
		check("chan_mpmc", sum.Load(), mpmcItems*(mpmcItems-1)/2)
	})
	fmt.Printf("chan_mpmc %.1f ns\n", float64(d.Nanoseconds())/mpmcItems)
}
