// The C API of credentials that outlive an outage (robustmq_credentials.h) over
// RobustClient::set_credentials_handler().
#include <optional>
#include <string>

#include "lib/c_client.hpp"
#include "proto/lifeline.hpp"
#include "proto/validate.hpp"

// Lives on the monitor thread's stack for one call of the callback.
struct robustmq_credentials {
  robustmq::Credentials values;
  bool set = false;
};

extern "C" {

int robustmq_credentials_set(robustmq_credentials* credentials, const char* username,
                             const void* password, size_t password_len) {
  if (credentials == nullptr || (password == nullptr && password_len != 0) ||
      password_len > robustmq::lifeline::kMaxCredentialBytes)
    return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  try {
    std::string user = username == nullptr ? std::string() : std::string(username);
    if (user.size() > robustmq::lifeline::kMaxCredentialBytes ||
        !robustmq::valid_mqtt_string(user))
      return ROBUSTMQ_ERR_INVALID_ARGUMENT;
    credentials->values.username = std::move(user);
    if (password_len > 0)
      credentials->values.password.assign(static_cast<const char*>(password), password_len);
    else
      credentials->values.password.clear();
    credentials->set = true;
    return ROBUSTMQ_OK;
  } catch (...) {
    return ROBUSTMQ_ERR_NO_MEMORY;
  }
}

int robustmq_set_credentials_callback(robustmq_client* client,
                                      robustmq_credentials_callback callback, void* ctx) {
  if (client == nullptr) return ROBUSTMQ_ERR_INVALID_ARGUMENT;
  return guarded(client, "robustmq_set_credentials_callback()", [&] {
    if (callback == nullptr) return client->client.set_credentials_handler(nullptr);
    client->client.set_credentials_handler([callback, ctx]() -> std::optional<robustmq::Credentials> {
      robustmq_credentials c;
      if (callback(ctx, &c) == 0 || !c.set) return std::nullopt;
      return std::move(c.values);
    });
  });
}

}  // extern "C"
