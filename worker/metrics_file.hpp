// Options::metrics_file: the client's figures in the Prometheus text format, written by the
// worker every metrics_interval (and as it exits), for daemons whose figures a node_exporter or
// a scrape collects (README "robustmq-stat").
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "proto/segment_layout.hpp"
#include "worker/clock.hpp"

namespace robustmq::worker {

class MetricsFile {
 public:
  // An empty path: nothing is ever due or written.
  MetricsFile(std::string path, std::chrono::seconds interval, std::string client_id);

  // Writes the file if it is due (the first time at once).
  void tick(Clock::time_point now, const shm::Segment& segment);
  // When tick() writes next; none without a file.
  std::optional<Clock::time_point> due() const;
  // Writes it now; `running` false as the worker exits (robustmq_worker_up 0).
  void write(const shm::Segment& segment, bool running);

 private:
  std::string path_;
  std::chrono::seconds interval_;
  std::string client_id_;
  std::optional<Clock::time_point> due_;
  bool failing_ = false;  // the last write failed: logged once per spell
};

}  // namespace robustmq::worker
