// The README's usage example: 20 messages, one a second, like the Python RobustMQ's README.
//   robustmq-minimal [host [port]]
// Stop the broker while it runs: the messages wait in /tmp/mymqttcache and arrive, in order,
// when it is back (or at the next run, if this one has ended by then).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <robustmq/client.hpp>

int main(int argc, char** argv) {
  const std::string host = argc > 1 ? argv[1] : "localhost";
  const int port = argc > 2 ? std::atoi(argv[2]) : 1883;

  robustmq::RobustClient client("testclient", robustmq::CacheType::sqlite, "/tmp/mymqttcache");
  client.connect_async(host, port);

  for (int i = 0; i < 20; ++i) {
    if (auto ec = client.publish("dt/blah", "Test Message " + std::to_string(i), 1)) {
      std::fprintf(stderr, "publish %d: %s\n", i, ec.message().c_str());
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }

  client.stop();  // what the broker has not acknowledged yet waits on disk for the next run
}
