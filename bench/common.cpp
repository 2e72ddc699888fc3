#include "common.hpp"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace robustmq::bench {

// --- figures -----------------------------------------------------------------------------------

Summary summarize(std::vector<double> v) {
  Summary s;
  s.runs = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

namespace {

std::vector<Figure>& figures() {
  static std::vector<Figure> f;
  return f;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{:.6g}", v);
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// "pass", "MISS" or "" (no target).
std::string verdict(const Figure& f, const Summary& r, const Summary& b) {
  bool any = false, ok = true;
  if (f.min_ratio && !f.baseline.empty()) {
    any = true;
    ok = ok && b.median > 0 && r.median / b.median >= *f.min_ratio;
  }
  if (f.max_ratio && !f.baseline.empty()) {
    any = true;
    ok = ok && b.median > 0 && r.median / b.median <= *f.max_ratio;
  }
  if (f.max_value) { any = true; ok = ok && r.runs > 0 && r.median <= *f.max_value; }
  if (f.min_value) { any = true; ok = ok && r.runs > 0 && r.median >= *f.min_value; }
  return any ? (ok ? "pass" : "MISS") : "";
}

std::string human(double v) {
  if (!std::isfinite(v)) return "-";
  const double a = std::fabs(v);
  if (a >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  if (a >= 100) return fmt::format("{:.0f}", v);
  if (a >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

}  // namespace

void report(const Figure& f) {
  const Summary r = summarize(f.robustmq);
  const Summary b = summarize(f.baseline);
  const double ratio = f.baseline.empty() || b.median == 0 ? NAN : r.median / b.median;
  std::string line = "JSON {";
  line += "\"figure\":" + json_string(f.name);
  line += ",\"robustmq\":" + json_number(r.median);
  line += ",\"baseline\":" + (f.baseline.empty() ? std::string("null") : json_number(b.median));
  line += ",\"ratio\":" + json_number(ratio);
  line += ",\"unit\":" + json_string(f.unit);
  line += ",\"runs\":" + std::to_string(r.runs);
  line += ",\"min\":" + json_number(r.min) + ",\"max\":" + json_number(r.max);
  if (!f.baseline.empty()) {
    line += ",\"baseline_name\":" + json_string(f.baseline_name);
    line += ",\"baseline_runs\":" + std::to_string(b.runs);
    line += ",\"baseline_min\":" + json_number(b.min) + ",\"baseline_max\":" + json_number(b.max);
  }
  if (!f.target.empty()) line += ",\"target\":" + json_string(f.target);
  const std::string v = verdict(f, r, b);
  if (!v.empty()) line += ",\"verdict\":" + json_string(v);
  if (!f.note.empty()) line += ",\"note\":" + json_string(f.note);
  line += "}";
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  figures().push_back(f);
}

void print_table(std::string_view title) {
  std::printf("\n%.*s\n", static_cast<int>(title.size()), title.data());
  std::printf("%-38s %-6s %21s %21s %6s %-16s %s\n", "figure", "unit", "robustmq med [min..max]",
              "baseline med [min..max]", "ratio", "target", "");
  for (const Figure& f : figures()) {
    const Summary r = summarize(f.robustmq);
    const Summary b = summarize(f.baseline);
    const std::string rs = fmt::format("{} [{}..{}]", human(r.median), human(r.min), human(r.max));
    const std::string bs = f.baseline.empty()
                               ? std::string("-")
                               : fmt::format("{} [{}..{}]", human(b.median), human(b.min), human(b.max));
    const std::string ratio =
        f.baseline.empty() || b.median == 0 ? "-" : fmt::format("{:.2f}", r.median / b.median);
    std::printf("%-38s %-6s %21s %21s %6s %-16s %s\n", f.name.c_str(), f.unit.c_str(), rs.c_str(),
                bs.c_str(), ratio.c_str(), f.target.c_str(), verdict(f, r, b).c_str());
  }
  std::fflush(stdout);
}

// --- the environment -------------------------------------------------------------------------

std::filesystem::path worker_path() {
  if (const char* w = std::getenv("ROBUSTMQ_WORKER"); w && *w) return w;
  return ROBUSTMQ_BENCH_WORKER;
}

int runs() {
  if (const char* r = std::getenv("RUNS"); r && *r) return std::max(1, std::atoi(r));
  return 5;
}

std::size_t scaled(std::size_t n) {
  double s = 1.0;
  if (const char* e = std::getenv("BENCH_SCALE"); e && *e) s = std::atof(e);
  return std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(n) * s));
}

std::chrono::milliseconds transfer_timeout(std::size_t n, std::size_t bytes) {
  return std::chrono::seconds(60) + std::chrono::milliseconds(n * bytes / 1000);
}

Options client_options(const std::filesystem::path& cache_dir, const std::string& tag) {
  static std::atomic<unsigned> counter{0};
  Options o;
  o.client_id = fmt::format("bench-{}-{}-{}", tag, ::getpid(), counter.fetch_add(1));
  o.cache_path = cache_dir;
  o.worker_path = worker_path();
  o.log_level = LogLevel::warning;
  return o;
}

void fill_payload(std::string& p, std::uint32_t run, std::uint64_t seq) {
  if (p.size() < 12) return;
  std::memcpy(p.data(), &run, 4);
  std::memcpy(p.data() + 4, &seq, 8);
}

// --- the subscriber ----------------------------------------------------------------------------

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

int sub_on_message(void* ctx, char* topic, int, MQTTAsync_message* m) {
  static_cast<CountingSubscriber*>(ctx)->on_message(m->payload, static_cast<std::size_t>(m->payloadlen));
  MQTTAsync_freeMessage(&m);
  MQTTAsync_free(topic);
  return 1;
}

// Waits for a Paho request's onSuccess/onFailure.
struct Done {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool ok = false;
  static void success(void* c, MQTTAsync_successData*) { static_cast<Done*>(c)->set(true); }
  static void failure(void* c, MQTTAsync_failureData*) { static_cast<Done*>(c)->set(false); }
  void set(bool v) {
    std::lock_guard lk(mu);
    done = true;
    ok = v;
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds t) {
    std::unique_lock lk(mu);
    cv.wait_for(lk, t, [&] { return done; });
    return done && ok;
  }
};

}  // namespace

CountingSubscriber::CountingSubscriber(const std::string& host, int port) {
  const std::string uri = fmt::format("tcp://{}:{}", host, port);
  const std::string id = fmt::format("bench-sub-{}", ::getpid());
  MQTTAsync c = nullptr;
  if (MQTTAsync_create(&c, uri.c_str(), id.c_str(), MQTTCLIENT_PERSISTENCE_NONE, nullptr) != 0)
    throw std::runtime_error("subscriber: MQTTAsync_create failed");
  client_ = c;
  MQTTAsync_setCallbacks(c, this, nullptr, sub_on_message, nullptr);
  Done conn;
  MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
  co.cleansession = 1;
  co.keepAliveInterval = 30;
  co.onSuccess = Done::success;
  co.onFailure = Done::failure;
  co.context = &conn;
  if (MQTTAsync_connect(c, &co) != 0 || !conn.wait(std::chrono::seconds(10)))
    throw std::runtime_error("subscriber: cannot connect to " + uri);
  Done sub;
  MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
  ro.onSuccess = Done::success;
  ro.onFailure = Done::failure;
  ro.context = &sub;
  if (MQTTAsync_subscribe(c, "bench/#", 2, &ro) != 0 || !sub.wait(std::chrono::seconds(10)))
    throw std::runtime_error("subscriber: cannot subscribe");
}

CountingSubscriber::~CountingSubscriber() {
  MQTTAsync c = client_;
  MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
  d.timeout = 500;
  MQTTAsync_disconnect(c, &d);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  MQTTAsync_destroy(&c);
}

void CountingSubscriber::expect(std::uint32_t run) {
  run_.store(run);
  count_.store(0);
  next_seq_.store(0);
  out_of_order_.store(0);
  first_ns_.store(0);
  last_ns_.store(0);
  target_.store(UINT64_MAX);
}

void CountingSubscriber::on_message(const void* payload, std::size_t len) {
  if (len >= 12) {
    std::uint32_t run;
    std::uint64_t seq;
    std::memcpy(&run, payload, 4);
    std::memcpy(&seq, static_cast<const char*>(payload) + 4, 8);
    if (run != run_.load(std::memory_order_relaxed)) return;
    const std::uint64_t want = next_seq_.load(std::memory_order_relaxed);
    if (seq != want) out_of_order_.fetch_add(1, std::memory_order_relaxed);
    if (seq >= want) next_seq_.store(seq + 1, std::memory_order_relaxed);
  }
  const std::int64_t t = now_ns();
  std::int64_t zero = 0;
  first_ns_.compare_exchange_strong(zero, t);
  last_ns_.store(t, std::memory_order_relaxed);
  const std::uint64_t n = count_.fetch_add(1) + 1;
  if (n == target_.load(std::memory_order_relaxed)) {
    std::lock_guard lk(mu_);
    cv_.notify_all();
  }
}

bool CountingSubscriber::wait_for(std::uint64_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  target_.store(n);
  return cv_.wait_for(lk, timeout, [&] { return count_.load() >= n; });
}

Clock::time_point CountingSubscriber::first_at() const {
  return Clock::time_point(std::chrono::nanoseconds(first_ns_.load()));
}
Clock::time_point CountingSubscriber::last_at() const {
  return Clock::time_point(std::chrono::nanoseconds(last_ns_.load()));
}

// --- /proc ---------------------------------------------------------------------------------------

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::uint64_t field_after(const std::string& text, std::string_view key) {
  const auto at = text.find(key);
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + key.size(), nullptr, 10);
}
}  // namespace

std::uint64_t proc_write_bytes(pid_t pid) {
  return field_after(slurp(fmt::format("/proc/{}/io", pid)), "\nwrite_bytes:");
}

std::uint64_t proc_status_kib(pid_t pid, std::string_view f) {
  return field_after(slurp(fmt::format("/proc/{}/status", pid)), fmt::format("\n{}:", f));
}

std::uint64_t thread_switches(pid_t pid, pid_t tid) {
  const std::string s = slurp(fmt::format("/proc/{}/task/{}/status", pid, tid));
  return field_after(s, "\nvoluntary_ctxt_switches:") +
         field_after(s, "\nnonvoluntary_ctxt_switches:");
}

std::uint64_t process_switches(pid_t pid) {
  std::uint64_t total = 0;
  DIR* d = ::opendir(fmt::format("/proc/{}/task", pid).c_str());
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    total += thread_switches(pid, std::atoi(e->d_name));
  }
  ::closedir(d);
  return total;
}

int thread_count(pid_t pid) {
  return static_cast<int>(field_after(slurp(fmt::format("/proc/{}/status", pid)), "\nThreads:"));
}

int worker_pid(const RobustClient& client) {
  // The worker is started through a double fork (its parent is init), so it is found by the
  // descriptors it holds: the lock file inside this client's cache directory.
  std::error_code ec;
  const std::string dir = std::filesystem::weakly_canonical(client.options().cache_path, ec).string();
  for (int i = 0; i < 2000; ++i) {
    if (const int pid = client.stats().worker_pid; pid > 0) return pid;
    if (DIR* d = ::opendir("/proc")) {
      int found = 0;
      while (dirent* e = ::readdir(d)) {
        const int pid = std::atoi(e->d_name);
        if (pid <= 0 || slurp(fmt::format("/proc/{}/comm", pid)).rfind("robustmq-worke", 0) != 0)
          continue;
        for (const auto& fd : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
          const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
          if (!ec && target.rfind(dir + "/", 0) == 0) found = pid;
        }
      }
      ::closedir(d);
      if (found > 0) return found;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return 0;
}

// --- child processes -----------------------------------------------------------------------------

Child spawn_self(const std::vector<std::string>& args, bool input) {
  int fds[2];
  int ins[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0 || (input && ::pipe2(ins, O_CLOEXEC) != 0))
    throw std::runtime_error("pipe2 failed");
  std::vector<char*> argv;
  std::string self = "/proc/self/exe";
  argv.push_back(self.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(fds[1], 1);
    if (input) ::dup2(ins[0], 0);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (input) ::close(ins[0]);
  return {pid, fds[0], ins[1]};
}

std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return line;
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string run_self(const std::vector<std::string>& args) {
  Child c = spawn_self(args);
  std::string out, line;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(c.out, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(c.out);
  if (const int rc = wait_child(c.pid); rc != 0)
    throw std::runtime_error(fmt::format("baseline child {} exited with {}", args.at(0), rc));
  return out;
}

double field(std::string_view line, std::string_view key) {
  const std::string k = std::string(key) + "=";
  std::size_t at = 0;
  while ((at = line.find(k, at)) != std::string_view::npos) {
    if (at == 0 || line[at - 1] == ' ') return std::atof(std::string(line.substr(at + k.size())).c_str());
    at += k.size();
  }
  return 0;
}

int dead_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);  // nothing listens there now: connecting gets "connection refused"
  return ntohs(a.sin_port);
}

}  // namespace robustmq::bench
