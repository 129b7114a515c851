// Signals as a channel: Go's signal.Notify.
//
//   auto sigs = goro::signal_notify({SIGINT, SIGTERM});
//   int sig = *co_await sigs.recv();                    // the first SIGINT or SIGTERM
//
// Contract
//   - Called inside goro::run. From the call on, the signals are blocked in every thread
//     of the process (the calling thread at once; any other thread the first time one
//     of them is delivered to it: a handler blocks it there and forwards it to goro's
//     reader through a pipe), so they reach the process's signalfd (or that pipe), which
//     goro's reader tasks read through their worker's ring. Their default action
//     (terminate) no longer applies.
//   - Each delivered signal is sent on the returned channel (capacity 16). As in Go, a
//     signal is dropped rather than waiting when the channel is full; signals of the
//     same number that arrive while one is pending are merged by the kernel.
//   - Several calls may watch the same signal: each of their channels gets it.
//   - The first signal_notify of a goro::run starts two reader tasks (they count in
//     num_tasks(); goro::task_snapshot, goro::dump_tasks and the leak report leave them
//     out); they end with goro::run, and the channels are never closed. The signals
//     stay blocked after goro::run: one arriving between two runs is delivered
//     to the next run's subscribers.
#pragma once

#include <initializer_list>

#include "goro/chan.hpp"

namespace goro {

recv_chan<int> signal_notify(std::initializer_list<int> signals);

}  // namespace goro
