// The C API of the log callback (robustmq_log.h) over RobustClient::set_log_handler().
#include <string>
#include <string_view>

#include "lib/c_client.hpp"

extern "C" {

int robustmq_set_log_callback(robustmq_client* client, robustmq_log_callback callback,
                              void* ctx) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  return guarded(client, "robustmq_set_log_callback()", [&] {
    if (callback == nullptr) return client->client.set_log_handler(nullptr);
    client->client.set_log_handler([callback, ctx](robustmq::LogLevel level,
                                                   std::string_view line) {
      const std::string text(line);  // NUL-terminated
      // The numbers are ROBUSTMQ_LOG_* (c_options.cpp asserts it).
      callback(ctx, static_cast<int>(level), text.c_str());
    });
  });
}

}  // extern "C"
