// The C API's client object (robustmq.h) and guarded(), which runs a C++ call for a C entry
// point: shared by c_api.cpp and c_credentials.cpp.
#pragma once

#include <cerrno>
#include <mutex>
#include <new>
#include <string>
#include <system_error>

#include "robustmq/client.hpp"
#include "robustmq/robustmq.h"

struct robustmq_client {
  explicit robustmq_client(robustmq::Options o) : client(std::move(o)) {}
  robustmq::RobustClient client;
  mutable std::mutex mu;  // guards the two fields below
  std::string last_error;
  int last_errno = 0;

  int fail(int code, int err, const char* what) noexcept {
    try {
      std::lock_guard lock(mu);
      last_error = what;
      last_errno = err;
    } catch (...) {
    }
    return code;
  }
};

// Runs a C++ call that may throw and returns its C code; `call` names it in the message of a
// failure without a message.
template <typename F>
inline int guarded(robustmq_client* client, const char* call, F&& f) noexcept {
  try {
    f();
    return ROBUSTMQ_OK;
  } catch (const std::system_error& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, e.code().value(), e.what());
  } catch (const std::bad_alloc&) {
    return client->fail(ROBUSTMQ_ERR_NO_MEMORY, ENOMEM, "out of memory");
  } catch (const std::exception& e) {
    return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, e.what());
  } catch (...) {
    try {
      return client->fail(ROBUSTMQ_ERR_SYSTEM, EIO, (std::string(call) + ": unknown failure").c_str());
    } catch (...) {
      return ROBUSTMQ_ERR_SYSTEM;
    }
  }
}
