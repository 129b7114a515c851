// select4: one consumer selects over 4 unbuffered channels fed by 4 producers, 4M items. C++ twin: perf/select4.cpp.

package main

import "fmt"

const (
	select4Producers   = 4
	select4Items       = 4_000_000
	select4PerProducer = select4Items / select4Producers
)

// select4Producer sends [first, first+select4PerProducer), then closes its
// channel.
func select4Producer(out chan<- int, first int) {
	for i := first; i < first+select4PerProducer; i++ {
		out <- i
	}
	close(out)
}

func select4Bench() {
	d := timeMedian(func() {
		var chans [select4Producers]chan int
		for p := range chans {
			chans[p] = make(chan int) // unbuffered
			go select4Producer(chans[p], p*select4PerProducer)
		}
		var sum int64
		for open := select4Producers; open > 0; {
			var i, v int
			var ok bool
			select {
			case v, ok = <-chans[0]:
				i = 0
			case v, ok = <-chans[1]:
				i = 1
			case v, ok = <-chans[2]:
				i = 2
			case v, ok = <-chans[3]:
				i = 3
			}
			if !ok {
				chans[i] = nil // closed: a nil channel's case is never chosen again
				open--
				continue
			}
			sum += int64(v)
		}
		check("select4", sum, select4Items*(select4Items-1)/2)
	})
	fmt.Printf("select4 %.1f ns\n", float64(d.Nanoseconds())/select4Items)
}
