// Credentials that outlive an outage (README "Token refresh"): the handler the application sets,
// answered to the worker's questions on the monitor thread, and Options::password_file's
// checks. The lifeline protocol is proto/lifeline.hpp.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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
  // O_NONBLOCK: a FIFO in its place does not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
                             "65535 (MQTT's limit), and a newline", path.string(), st.st_size));
  return path.string();
}

bool RobustClient::Impl::send_lifeline(std::string_view bytes, bool wait) noexcept {
  std::lock_guard lock(lifeline_send_mu_);
  // An answer (wait) is written whole, or the worker reads nothing: 2 s bound a worker that
  // stopped reading its lifeline (stopped by a debugger, say) while its buffer, about 200 KiB,
  // is full. Meanwhile a publish() that would wake the worker waits for this mutex.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  const std::size_t total = bytes.size();
  while (!bytes.empty()) {
    const ssize_t n = ::send(lifeline_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (!wait || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{lifeline_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return bytes.empty() || bytes.size() == total;
}

// The worker asked `questions` times (proto/lifeline.hpp): one call of the handler answers
// them all, in order. The answer is the handler's new credentials, or the last good ones when it
// keeps them, throws or returns values MQTT cannot carry: a worker started since (after a crash)
// must not fall back to Options::password. Without any yet: 'N', the worker keeps its own.
void RobustClient::Impl::answer_credentials(std::size_t questions) {
  const std::shared_ptr<const CredentialsHandler> handler = credentials_.get();
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
  if (got && (got->username.size() > lifeline::kMaxCredentialBytes ||
              got->password.size() > lifeline::kMaxCredentialBytes)) {
    set_error("the credentials handler returned a user name or password over 65535 bytes "
              "(MQTT's limit): the worker keeps the last credentials");
    got.reset();
  } else if (got && !valid_mqtt_string(got->username)) {
    set_error("the credentials handler returned a user name that is not UTF-8 without NUL "
              "(an MQTT string): the worker keeps the last credentials");
    got.reset();
  }
  std::string answer;
  {
    std::lock_guard lock(credentials_mu_);
    if (got) last_credentials_ = std::move(got);
    answer = last_credentials_ ? lifeline::encode_credentials(last_credentials_->username,
                                                              last_credentials_->password)
                               : std::string(1, lifeline::kNoCredentials);
  }
  // One answer with the values, the others 'N' (the values stay in effect): small, so that it
  // fits the socket at once.
  answer.append(questions - 1, lifeline::kNoCredentials);
  if (!send_lifeline(answer, true)) {
    // A part went: the rest of the stream would be read as credentials. The worker has not read
    // its lifeline for 2 s; a new one starts clean (the monitor restarts it; nothing is lost).
    set_error("the worker did not read its credentials for 2 s: restarting it");
    if (const auto pid = static_cast<pid_t>(seg().control.worker_pid.load()); pid > 0)
      ::kill(pid, SIGKILL);
  }
  std::fill(answer.begin(), answer.end(), '\0');  // it may hold a password
}

void RobustClient::set_credentials_handler(CredentialsHandler handler) {
  impl_->set_credentials_handler(std::move(handler));
}

}  // namespace robustmq
