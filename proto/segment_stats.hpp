// The figures of a client, read from its segment: by the client itself (RobustClient::stats()),
// by robustmq-stat from outside the application, and by the worker for Options::metrics_file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/segment_layout.hpp"
#include "robustmq/client.hpp"

namespace robustmq {

// Everything Stats holds that lives in the segment: the state as the worker last reported it,
// every counter, the backlogs, the oldest message's age (against CLOCK_REALTIME now), the status
// texts and the worker's pid. Not took_over_from, carried_over and handed_off, which only the
// client knows.
Stats stats_of(const shm::Segment& segment);

// Stats in the Prometheus text exposition format (version 0.0.4), every sample labelled
// client_id="...": counters end in _total, the state is one robustmq_state sample per state
// (1 for the current one). `up` is robustmq_worker_up (whether the worker runs).
std::string prometheus_text(const Stats& s, std::string_view client_id, bool up);

}  // namespace robustmq
