// goro: Go's concurrency model for C++20. Includes the whole public API.
#pragma once

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/debug.hpp"
#include "goro/errc.hpp"
#include "goro/file.hpp"
#include "goro/group.hpp"
#include "goro/io.hpp"
#include "goro/net.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/signal.hpp"
#include "goro/spawn.hpp"
#include "goro/sync.hpp"
#include "goro/task.hpp"
#include "goro/time.hpp"
#include "goro/wait_group.hpp"
