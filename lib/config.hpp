// Sizing the runtime: GOMAXPROCS, CPU affinity, the cgroup v2 CPU quota.
#pragma once

#include <optional>
#include <string_view>

namespace goro::detail {

// The worker count goro::run uses when config::maxprocs is 0: GOMAXPROCS if set (throws
// config_error unless it is a positive integer), else the CPUs in the affinity mask,
// capped by the cgroup v2 cpu.max quota of this process's cgroup and its ancestors.
unsigned default_maxprocs();

// GOMAXPROCS's value: a positive decimal integer, at most 4096. Throws config_error
// naming the variable and the value otherwise.
unsigned parse_maxprocs(std::string_view value);

// A cgroup v2 cpu.max file ("max 100000" or "150000 100000"): the CPU limit it sets,
// rounded up to whole CPUs, or nothing when unlimited or unreadable.
std::optional<unsigned> parse_cpu_max(std::string_view content);

}  // namespace goro::detail
