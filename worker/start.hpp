// The worker's start-up handshake with its application, and what must hold before the loop
// runs: at most one worker per cache directory at any instant, and a worker its application did
// not accept never touches the ring or the cache.
//
//   application                          worker
//   spawn, send the configuration  --->  decode it
//                                        take <cache>/robustmq.worker.lock (flock, its own open
//                                        file: a worker still running elsewhere holds it; wait,
//                                        leaving if the application gives up meanwhile) and
//                                        write its pid into it (lib/takeover.cpp reads it)
//                                        map the segment (checks it, changes nothing)
//   read "ready <pid>" (up to       <--- "ready <pid>\n"
//     Options::worker_start_timeout)
//   accepted: send "g"             --->  read "g". EOF instead (the application gave up
//   gave up: close the lifeline          waiting, or died): exit, touching nothing
//                                        open the cache (a recovery may take long: no timeout
//                                        applies), publish its counts in the segment
//   connect_async() returns         <--- "running\n" (or "error <text>\n" and exit)
//                                        the loop
//
// The application's lock (<cache>/robustmq.lock) is not passed on: it keeps two live
// applications apart, the worker lock two workers.
#pragma once

#include <memory>
#include <string>

#include "proto/segment_layout.hpp"
#include "proto/worker_config.hpp"
#include "worker/cache/cache.hpp"

namespace robustmq::worker {

// Takes the cache directory's worker lock, waiting while another worker holds it. Returns the
// descriptor (kept open for the process's life), -1 when the application gave up meanwhile, or
// throws std::system_error when the lock file cannot be opened.
int take_worker_lock(const std::string& cache_dir, int lifeline);

// Waits for the application's answer to "ready": true when it accepted this worker.
bool accepted(int lifeline);

// An orphan (its application gone) at its end removes the segment's name, so that the next
// client starts with a fresh one, only if it can take the client lock (<cache>/robustmq.lock)
// for that moment: a new client holding it has adopted the segment, or will, and its worker
// maps it by name. True when the name was removed.
bool unlink_segment_unless_claimed(const std::string& cache_dir, const std::string& segment_name);


}  // namespace robustmq::worker
