// mutex: 8 goroutines increment one plain counter under a sync.Mutex, 10,000,000
// increments in all (1,250,000 each: m.Lock(); x++; m.Unlock()); ns per increment.
// The counter must end at 10,000,000. C++ twin: perf/mutex.cpp.

package main

import (
	"fmt"
	"sync"
)

const (
	mutexTasks      = 8
	mutexIncrements = 10_000_000
	mutexPerTask    = mutexIncrements / mutexTasks
)

func mutexIncrementer(m *sync.Mutex, x *int64, wg *sync.WaitGroup) {
	for i := 0; i < mutexPerTask; i++ {
		m.Lock()
		*x++
		m.Unlock()
	}
	wg.Done()
}

func mutexBench() {
	d := timeMedian(func() {
		var m sync.Mutex
		var x int64 // guarded by m
		var wg sync.WaitGroup
		wg.Add(mutexTasks)
		for t := 0; t < mutexTasks; t++ {
			go mutexIncrementer(&m, &x, &wg)
		}
		wg.Wait()
		check("mutex", x, mutexIncrements)
	})
	fmt.Printf("mutex %.2f ns\n", float64(d.Nanoseconds())/mutexIncrements)
}
