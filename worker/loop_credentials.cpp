// Credentials before each connection attempt (README "Token refresh"): the password file is
// read again, and an application with a credentials handler is asked over the lifeline
// (proto/lifeline.hpp); the attempt waits for its answer up to connect_timeout. The answer,
// whenever it comes, is in effect from the next connect() on; the handler's wins over the
// file's. An orphan (the application gone) asks nothing and keeps the last credentials.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <system_error>

#include "worker/log.hpp"
#include "worker/loop.hpp"

namespace robustmq::worker {

void Loop::attempt() {
  const auto now = time_.now();
  if (!credentials_until_) {
    read_password_file();
    if (ask_for_credentials()) {
      credentials_until_ = now + config_.connect_timeout;
      return;
    }
  } else if (credentials_answered_ < credentials_asked_) {
    if (producer_alive_ && now < *credentials_until_) return;  // lifeline input ends the wait
    if (producer_alive_)
      log(Level::warning, "the credentials handler did not answer within {} s "
          "(connect_timeout): connecting with the last credentials",
          config_.connect_timeout.count());
  }
  credentials_until_.reset();
  start_connect();
}

bool Loop::ask_for_credentials() {
  if (!producer_alive_ || seg_.control.credentials_handler.load(std::memory_order_acquire) != 1)
    return false;
  // Answers to earlier questions that timed out may still come: this attempt waits for all.
  const char c = lifeline::kAskCredentials;
  if (::send(lifeline_, &c, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) return false;
  ++credentials_asked_;
  return true;
}

void Loop::read_password_file() {
  if (config_.password_file.empty()) return;
  std::string error;
  std::string password;
  // O_NONBLOCK: a FIFO put in the file's place must not stop the worker waiting for a writer.
  const int fd = ::open(config_.password_file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    error = std::generic_category().message(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = "not a regular file";
  } else {
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) password.append(buf, static_cast<std::size_t>(n));
      if (password.size() > lifeline::kMaxCredentialBytes + 2) break;
    }
    if (n < 0) error = std::generic_category().message(errno);
    std::fill(std::begin(buf), std::end(buf), '\0');
    // One line ending is not part of the password: "\n" or "\r\n".
    if (password.ends_with("\r\n")) password.resize(password.size() - 2);
    else if (password.ends_with('\n')) password.pop_back();
    if (error.empty() && password.size() > lifeline::kMaxCredentialBytes)
      error = "longer than 65535 bytes (MQTT's limit)";
    // A file being rewritten in place reads empty for a moment (rename a new file over it
    // instead); an empty password is never what it means.
    if (error.empty() && password.empty()) error = "it is empty";
  }
  if (fd >= 0) ::close(fd);
  if (!error.empty()) {
    const auto text = fmt::format("cannot read password_file {}: {}; connecting with the "
                                  "password read last", config_.password_file, error);
    if (!file_unreadable_) log(Level::warning, "{}", text);
    file_unreadable_ = true;
    report_.error(text);
    return;
  }
  file_unreadable_ = false;
  // Only a change of the file counts: the handler's answer since stays in effect otherwise.
  if (password == file_password_) return;
  if (!file_password_.empty())
    log(Level::info, "password_file {} holds a new password", config_.password_file);
  file_password_ = password;
  password_ = std::move(password);
  transport_.set_credentials(username_, password_);
}

}  // namespace robustmq::worker
