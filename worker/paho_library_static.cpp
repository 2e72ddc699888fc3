// Paho MQTT C from the Meson subproject: a static library, linked with OpenSSL into the worker
// (paho_library.hpp). There is nothing to open.
#include "worker/paho_library.hpp"

namespace robustmq::worker {

std::string load_paho(bool /*tls*/) { return {}; }

std::string paho_library_name() { return {}; }

}  // namespace robustmq::worker
