// fail(): how the client side reports a failure, as a std::system_error carrying an errno
// value and a message that says what went wrong and what to do.
#pragma once

#include <string>
#include <system_error>

namespace robustmq {

[[noreturn]] inline void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

}  // namespace robustmq
