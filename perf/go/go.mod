module goro/perf

go 1.19
