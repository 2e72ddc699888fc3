// Which Paho MQTT C library the worker runs with, chosen when it starts.
//
// Paho ships two: libpaho-mqtt3as, with TLS, which loads OpenSSL (libssl and libcrypto: about
// 2 MiB of the worker's resident memory, the largest part of it), and libpaho-mqtt3a, without.
// Linked normally, the worker would carry OpenSSL whether or not any broker uses TLS. Instead,
// with the system's shared Paho, the worker is linked with neither: paho_library.cpp defines
// the Paho and OpenSSL functions the worker calls and forwards each to the library that
// load_paho() opened with dlopen(): libpaho-mqtt3as when the configuration has a TLS server
// (ssl://, wss://, or tls on the host/port form), else libpaho-mqtt3a. A worker built against
// Paho from the Meson subproject (a static library) links it and OpenSSL as before, and
// load_paho() has nothing to do (paho_library_static.cpp).
//
// A call made before load_paho() opens the TLS library: every function works, at the full
// memory cost. A Server Reference cannot switch
// between TLS and a plain connection (servers.hpp), so a worker without TLS never needs it.
#pragma once

#include <string>

namespace robustmq::worker {

// Opens the Paho library for `tls` (and, with it, OpenSSL). Call once, before any Paho or
// OpenSSL function; a later call keeps the first library. Returns "" or why the library could
// not be opened (then nothing works: the worker reports it and exits).
std::string load_paho(bool tls);

// The file name of the Paho library in use ("" before the first call, or when linked).
std::string paho_library_name();

}  // namespace robustmq::worker
