#include "testkit/websocket_relay.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "testkit/mosquitto.hpp"  // free_port(), accepts_connections()

namespace robustmq::testkit {

namespace {

// websockify's entry point, with the subprotocol choice an MQTT endpoint makes (see the header).
constexpr const char* kRelayScript =
    "import sys\n"
    "from websockify import websockifyserver as s\n"
    "from websockify.websocketproxy import websockify_init\n"
    "def pick(self, protocols):\n"
    "    offered = [p.strip() for p in protocols]\n"
    "    for p in ('mqtt', 'binary'):\n"
    "        if p in offered:\n"
    "            return p\n"
    "    return ''\n"
    "s.CompatibleWebSocket.select_subprotocol = pick\n"
    "sys.argv[0] = 'websockify'\n"
    "websockify_init()\n";

}  // namespace

bool WebSocketRelay::available() {
  // Debian's package: the module for Debian's python3 (not whatever python3 is first in PATH).
  return ::access("/usr/bin/python3", X_OK) == 0 &&
         ::access("/usr/lib/python3/dist-packages/websockify/websocketproxy.py", R_OK) == 0;
}

WebSocketRelay::WebSocketRelay(WebSocketRelayOptions options)
    : options_(std::move(options)), dir_("robustmq-wsrelay-") {
  if (!available())
    throw std::runtime_error("WebSocketRelay: websockify is not installed (apt-get install "
                             "websockify; scripts/deps.sh installs it)");
  const bool tls = !options_.cert_file.empty();
  const std::string log_path = (dir_ / "websockify.log").string();
  for (int tries = 0; tries < 5 && pid_ < 0; ++tries) {
    port_ = free_port();
    // Debian's python3, whose modules the websockify package installed (not whatever python3
    // comes first in PATH).
    std::vector<std::string> args = {"/usr/bin/python3", "-c", kRelayScript};
    if (tls) {
      args.insert(args.end(), {"--cert=" + options_.cert_file.string(),
                               "--key=" + options_.key_file.string(), "--ssl-only"});
    }
    args.push_back("127.0.0.1:" + std::to_string(port_));
    args.push_back("127.0.0.1:" + std::to_string(options_.target_port));
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("WebSocketRelay: fork failed");
    if (pid == 0) {
      ::setpgid(0, 0);  // its per-connection children go with it (kill(-pid))
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) _exit(1);
      const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (log < 0 || null < 0 || ::dup2(null, 0) < 0 || ::dup2(log, 1) < 0 || ::dup2(log, 2) < 0)
        _exit(1);
      ::close_range(3, ~0u, 0);
      ::execv("/usr/bin/python3", argv.data());
      _exit(127);
    }
    // Until it listens, or exits (the port was taken meanwhile: try another).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
      if (accepts_connections(port_)) {
        pid_ = pid;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ < 0) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  if (pid_ < 0) throw std::runtime_error("WebSocketRelay: websockify did not start: " + log());
}

WebSocketRelay::~WebSocketRelay() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string WebSocketRelay::uri() const {
  return std::string(options_.cert_file.empty() ? "ws" : "wss") + "://127.0.0.1:" +
         std::to_string(port_) + "/mqtt";
}

std::string WebSocketRelay::log() const {
  std::ifstream in(dir_ / "websockify.log");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace robustmq::testkit
