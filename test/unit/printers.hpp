// How doctest prints RobustMQ values in failure messages, so a failed CHECK says
// "robustmq:7 (message is larger than half the shared ring...)", not "{?}" or "7".
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <system_error>

#include "proto/drop_journal.hpp"
#include "proto/record_format.hpp"
#include "proto/ring.hpp"
#include "robustmq/errc.hpp"

namespace doctest {

template <>
struct StringMaker<std::error_code> {
  static String convert(const std::error_code& ec) {
    const std::string s = std::string(ec.category().name()) + ":" + std::to_string(ec.value()) +
                          " (" + ec.message() + ")";
    return String(s.c_str());
  }
};

}  // namespace doctest

// doctest prints enums as numbers unless an overload of toString() is found by ADL.
namespace robustmq {

inline doctest::String toString(errc e) {
  return doctest::StringMaker<std::error_code>::convert(make_error_code(e));
}

inline doctest::String toString(RingConsumer::Status s) {
  switch (s) {
    case RingConsumer::Status::item: return "item";
    case RingConsumer::Status::empty: return "empty";
    case RingConsumer::Status::corrupt: return "corrupt";
  }
  return "Status(?)";
}

namespace record {

inline doctest::String toString(Check c) {
  switch (c) {
    case Check::ok: return "ok";
    case Check::bad_length: return "bad_length";
    case Check::bad_kind: return "bad_kind";
    case Check::bad_flags: return "bad_flags";
    case Check::bad_sizes: return "bad_sizes";
  }
  return "Check(?)";
}

}  // namespace record

namespace journal {

inline doctest::String toString(Reader::Slot s) {
  switch (s) {
    case Reader::Slot::intact: return "intact";
    case Reader::Slot::empty: return "empty";
    case Reader::Slot::overwritten: return "overwritten";
    case Reader::Slot::damaged: return "damaged";
    case Reader::Slot::unreadable: return "unreadable";
  }
  return "Slot(?)";
}

inline doctest::String toString(const Record& r) {
  const std::string s = "{serial " + std::to_string(r.serial) + ", " + std::to_string(r.first) +
                        "-" + std::to_string(r.last) + ", reason " +
                        std::to_string(static_cast<int>(r.reason)) + ", code " +
                        std::to_string(r.code) + ", time_ns " + std::to_string(r.time_ns) + "}";
  return s.c_str();
}

}  // namespace journal
}  // namespace robustmq
