// The cache directory of a client: created 0700 and checked to be ours, then locked so that one
// live client uses it at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>

namespace robustmq {

// The pid a lock file of the cache directory names (robustmq.lock: the client's,
// robustmq.worker.lock: the worker's); 0 if it names none (yet).
pid_t pid_in(int fd);

// Creates the cache directory (0700) if needed and checks that it is ours.
std::filesystem::path prepare_cache_dir(const std::filesystem::path& dir);

// One live client per cache directory: an flock on <dir>/robustmq.lock, held by the client
// alone (its workers do not inherit it), which writes its pid into the file. The lock is free
// the instant the application dies, whatever its worker still does (lib/takeover.hpp).
// Held by a live process: EBUSY naming the pid in the file. Held while the pid in the file is
// gone: a moment in which a new holder has not yet written its pid, or an orphaned worker
// checks that no client is left before it removes the segment; retried for up to `wait`.
int lock_cache_dir(const std::filesystem::path& dir, std::chrono::milliseconds wait);

}  // namespace robustmq
