// Runtime sizing; see lib/config.hpp.
#include "config.hpp"

#include <sched.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "goro/runtime.hpp"

namespace goro::detail {

namespace {

constexpr unsigned max_workers = 4096;  // a typo guard, far above any machine we know

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::optional<unsigned long long> parse_number(std::string_view s) {
  unsigned long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The cgroup v2 CPU limit of this process: the tightest cpu.max from its cgroup up to
// the root of the hierarchy.
std::optional<unsigned> cgroup_cpu_limit() {
  std::istringstream lines(read_file("/proc/self/cgroup"));
  std::string line, path;
  while (std::getline(lines, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);
  if (path.empty()) return std::nullopt;  // no cgroup v2
  std::optional<unsigned> limit;
  for (;;) {
    if (auto l = parse_cpu_max(read_file("/sys/fs/cgroup" + path + "/cpu.max")); l && (!limit || *l < *limit))
      limit = l;
    if (path == "/" || path.empty()) break;
    const auto slash = path.find_last_of('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return limit;
}

}  // namespace

unsigned parse_maxprocs(std::string_view value) {
  const auto n = parse_number(trim(value));
  if (!n || *n == 0 || *n > max_workers)
    throw config_error("GOMAXPROCS=\"" + std::string(value) +
                       "\" is not a positive integer (1 to 4096): set it to the number of worker threads, "
                       "e.g. GOMAXPROCS=4, or unset it to use every CPU this process may run on");
  return static_cast<unsigned>(*n);
}

std::optional<unsigned> parse_cpu_max(std::string_view content) {
  content = trim(content);
  const auto space = content.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = parse_number(content.substr(0, space));  // "max" fails: unlimited
  const auto period = parse_number(trim(content.substr(space + 1)));
  if (!quota || !period || *period == 0) return std::nullopt;
  const auto cpus = (*quota + *period - 1) / *period;
  return static_cast<unsigned>(cpus == 0 ? 1 : cpus);
}

unsigned default_maxprocs() {
  if (const char* env = std::getenv("GOMAXPROCS")) return parse_maxprocs(env);
  unsigned cpus = 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  if (auto quota = cgroup_cpu_limit(); quota && *quota < cpus) cpus = *quota;
  return cpus < 1 ? 1 : cpus;
}

}  // namespace goro::detail
