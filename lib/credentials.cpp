// Credentials that outlive an outage (README "Token refresh"): the handler the application sets,
// answered to the worker's questions on the monitor thread, and Options::password_file's
// checks. The lifeline protocol is proto/lifeline.hpp.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <string>

#include <fmt/format.h>

#include "lib/client_impl.hpp"
#include "lib/fail.hpp"
#include "proto/lifeline.hpp"
#include "proto/validate.hpp"

namespace robustmq {

std::string checked_password_file(const Options& o) {
  if (o.password_file.empty()) return {};
  if (!o.password.empty())
    fail(EINVAL, "Options::password and Options::password_file are both set: keep one (the "
                 "file is read before each connection attempt)");
  const auto path = std::filesystem::absolute(o.password_file);
  struct stat st {};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    fail(err, fmt::format("Options::password_file {} cannot be read: {}", path.string(),
                          std::generic_category().message(err)));
  }
  ::close(fd);
  if (!S_ISREG(st.st_mode))
    fail(EINVAL, fmt::format("Options::password_file {} is not a regular file", path.string()));
  if (st.st_size > static_cast<off_t>(lifeline::kMaxCredentialBytes + 2))
    fail(EINVAL, fmt::format("Options::password_file {} holds {} bytes: a password has at most "
                             "65535 (MQTT's limit)", path.string(), st.st_size));
  return path.string();
}

void RobustClient::Impl::send_lifeline(std::string_view bytes, bool wait) noexcept {
  std::lock_guard lock(lifeline_send_mu_);
  // An answer (wait) is written whole or the worker is gone: a part of one would make the
  // worker read the wake-up bytes after it as credentials. 5 s bound a worker that reads nothing
  // (stopped by a debugger, say); its buffer holds about 200 KiB first.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!bytes.empty()) {
    const ssize_t n = ::send(lifeline_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (!wait || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{lifeline_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

void RobustClient::Impl::set_credentials_handler(CredentialsHandler handler) {
  std::lock_guard lock(credentials_mu_);
  credentials_ = handler ? std::make_shared<const CredentialsHandler>(std::move(handler)) : nullptr;
  if (auto* control = credentials_control_.load(); control != nullptr)
    control->credentials_handler.store(credentials_ ? 1 : 0);
}

void RobustClient::Impl::attach_credentials(shm::ControlLine* control) {
  std::lock_guard lock(credentials_mu_);
  credentials_control_.store(control);
  if (control != nullptr) control->credentials_handler.store(credentials_ ? 1 : 0);
}

// The worker asked `questions` times (proto/lifeline.hpp): one call of the handler answers
// them all, in order.
void RobustClient::Impl::answer_credentials(std::size_t questions) {
  std::shared_ptr<const CredentialsHandler> handler;
  {
    std::lock_guard lock(credentials_mu_);
    handler = credentials_;
  }
  std::optional<Credentials> got;
  if (handler) {
    try {
      got = (*handler)();
    } catch (const std::exception& e) {
      set_error(fmt::format("the credentials handler threw: {}; the worker keeps the last "
                            "credentials", e.what()));
    } catch (...) {
      set_error("the credentials handler threw; the worker keeps the last credentials");
    }
  }
  if (got) {
    const auto bad = validate_topic(got->username);
    if (got->username.size() > lifeline::kMaxCredentialBytes ||
        got->password.size() > lifeline::kMaxCredentialBytes) {
      set_error("the credentials handler returned a user name or password over 65535 bytes "
                "(MQTT's limit): the worker keeps the last credentials");
      got.reset();
    } else if (bad == errc::topic_invalid_utf8 || bad == errc::topic_contains_nul) {
      set_error("the credentials handler returned a user name that is not UTF-8 without NUL "
                "(an MQTT string): the worker keeps the last credentials");
      got.reset();
    }
  }
  const std::string one = got ? lifeline::encode_credentials(got->username, got->password)
                               : std::string(1, lifeline::kNoCredentials);
  std::string all;
  for (std::size_t i = 0; i < questions; ++i) all += one;
  send_lifeline(all, true);
  std::fill(all.begin(), all.end(), '\0');  // it may hold a password
}

void RobustClient::set_credentials_handler(CredentialsHandler handler) {
  impl_->set_credentials_handler(std::move(handler));
}

}  // namespace robustmq
