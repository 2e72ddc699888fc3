// Starting robustmq-worker.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace robustmq {

// The worker executable: Options::worker_path, else $ROBUSTMQ_WORKER, else the installed path.
std::filesystem::path find_worker(const std::filesystem::path& configured);

struct SpawnResult {
  int lifeline = -1;  // our end of the socketpair; close-on-exec
  int log = -1;       // our end of the log socket (proto/log_line.hpp); close-on-exec
  int pid = 0;        // the worker's pid, as it reported it
};

// Starts the worker by fork + fork + exec, so that it is no process's waitable child (hosts that
// reap every child with wait(-1) cannot steal its status, and it leaves no zombie) and in a
// session of its own (a Ctrl-C meant for the application does not kill it before it drained).
// Only the lifeline socket (fd 3), the log socket (fd 4) and stderr reach the worker; stdin and
// stdout are /dev/null. Not the client's cache lock, which is to be free the instant the
// application dies (lib/takeover.hpp). Sends the encoded configuration, then waits up to
// `timeout` for the worker's "ready" line. Throws std::system_error with the worker's own words
// when it reports an error or dies.
SpawnResult spawn_worker(const std::filesystem::path& worker, std::string_view config_blob, std::chrono::milliseconds timeout);

}  // namespace robustmq
