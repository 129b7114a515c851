package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

const spawnTasks = 1_000_000

// spawnJoin starts one goroutine per index; each adds its index to a shared
// atomic sum. Reports the cost per task (spawn + run + join).
func spawnJoin() {
	d := timeMedian(func() {
		var sum atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < spawnTasks; i++ {
			wg.Add(1)
			go func(i int64) {
				sum.Add(i)
				wg.Done()
			}(int64(i))
		}
		wg.Wait()
		check("spawn_join", sum.Load(), spawnTasks*(spawnTasks-1)/2)
	})
	fmt.Printf("spawn_join %.2f ns\n", float64(d.Nanoseconds())/spawnTasks)
}
