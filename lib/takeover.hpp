// Taking over from an orphaned worker: a worker whose application died, or handed off
// (stop(StopMode::hand_off)), goes on delivering the ring and the cache in the background
// (Options::orphan_linger, worker/loop.cpp). A new client with the same client_id and
// cache_path must not wait for that delivery to end, which may take hours over a slow link.
//
// The orphan stops at a safe point and the new worker continues:
//   new client                                   orphan
//   take <cache>/robustmq.lock (free: the dead
//     application's flock went with it; the
//     orphan never holds it)
//   adopt the segment (the orphan removes the
//     segment's name only when it can take the
//     client lock itself: never under us)
//   control.takeover_by = our pid
//   SIGTERM to the holder of                --->  stop as on stop(): let the window settle
//     <cache>/robustmq.worker.lock                (at most min(1 s, cache_timeout)), commit
//     (its pid in the file, checked to be a       the ring to the cache behind the cached
//     robustmq-worker)                            messages, disconnect, exit
//   the worker lock is free                 <---  (exit releases it)
//   reset the segment's control words, start our worker: it sends the cache (the earlier
//   life's messages, oldest first), then the ring (ours)
// An orphan that has not exited within Options::takeover_timeout (a cache recovery or a stuck
// disk) is killed with SIGKILL: a worker's death loses nothing (the ring keeps every message
// not committed to the cache; those in flight are sent again).
//
// Why not let the orphan carry on as the new application's worker: the new client may come
// with other options (broker, credentials, cache type), and a worker takes its configuration
// once, at start. Stopping costs one reconnect; keeping one worker per life keeps every rule
// of the start-up handshake (worker/start.hpp) as it is.
#pragma once

#include <chrono>
#include <filesystem>

#include "proto/segment_layout.hpp"

namespace robustmq {

// Waits until no worker holds the cache directory's worker lock, asking the holder to hand
// over as described above and killing it after `timeout`. The caller holds the client lock and
// has mapped the segment. Returns the pid of the worker taken over from, 0 if none ran. Throws
// std::system_error (ETIMEDOUT) when the lock is still held after the kill.
int take_over_worker(const std::filesystem::path& cache_dir,
                     const std::filesystem::path& worker_path, shm::ControlLine& control,
                     std::chrono::milliseconds timeout);

}  // namespace robustmq
