// Paho MQTT C and OpenSSL opened at run time (paho_library.hpp says why). Each function the
// worker calls is defined here with the library's own signature and forwards to the function
// dlsym() found. These definitions are not exported (the worker is an executable linked with
// no library that refers to them), so they never stand in for the libraries' own calls inside
// Paho or OpenSSL.
#include "worker/paho_library.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include <MQTTAsync.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fmt/format.h>

namespace robustmq::worker {
namespace {

// The sonames of Paho's libraries (Debian's libpaho-mqtt1.3); the worker's package depends on it
// by name (debian/control), as dpkg cannot see a library opened with dlopen(). OpenSSL's
// functions are looked up through libpaho-mqtt3as, which links it: the worker calls the very
// OpenSSL Paho uses, whatever its soname.
constexpr const char* kPahoTls = "libpaho-mqtt3as.so.1";
constexpr const char* kPahoPlain = "libpaho-mqtt3a.so.1";

// X(name) for every function forwarded: Paho's, then OpenSSL's.
#define ROBUSTMQ_PAHO_FUNCTIONS(X)                                                               \
  X(MQTTAsync_connect) X(MQTTAsync_create) X(MQTTAsync_createWithOptions) X(MQTTAsync_destroy)  \
  X(MQTTAsync_disconnect) X(MQTTAsync_free) X(MQTTAsync_freeMessage) X(MQTTAsync_global_init) \
  X(MQTTAsync_sendMessage) X(MQTTAsync_setCallbacks) X(MQTTAsync_setDisconnected)             \
  X(MQTTProperties_add) X(MQTTProperties_free) X(MQTTProperties_getNumericValue)               \
  X(MQTTProperties_getProperty) X(MQTTProperties_hasProperty) X(MQTTReasonCode_toString)
#define ROBUSTMQ_OPENSSL_FUNCTIONS(X)                                                          \
  X(CONF_get1_default_config_file) X(CRYPTO_free) X(ERR_clear_error) X(NCONF_free)             \
  X(NCONF_get_section) X(NCONF_get_string) X(NCONF_load) X(NCONF_new) X(OPENSSL_INIT_free)     \
  X(OPENSSL_INIT_new) X(OPENSSL_INIT_set_config_filename) X(OPENSSL_init_ssl) X(OPENSSL_sk_num) \
  X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_new) X(SSL_CTX_set_cipher_list) X(TLS_client_method)

struct Functions {
// NOLINTNEXTLINE(bugprone-macro-parentheses): a declaration's name cannot be parenthesised
#define ROBUSTMQ_POINTER(name) decltype(&::name) name = nullptr;
  ROBUSTMQ_PAHO_FUNCTIONS(ROBUSTMQ_POINTER)
  ROBUSTMQ_OPENSSL_FUNCTIONS(ROBUSTMQ_POINTER)
#undef ROBUSTMQ_POINTER
};

struct Library {
  std::mutex mu;  // opening; a call after that reads the atomics only
  std::atomic<bool> paho_loaded{false}, openssl_loaded{false};
  std::string name;
  Functions f;
};

Library& library() {
  static Library lib;
  return lib;
}

// Resolves every function of the list from `handle` (a library and what it depends on).
// Returns "" or the first one missing.
template <typename Assign>
std::string resolve(void* handle, const char* file, Assign assign) {
  std::string missing;
  assign([&](const char* symbol) -> void* {
    void* p = ::dlsym(handle, symbol);
    if (p == nullptr && missing.empty())
      missing = fmt::format("{} has no function {}: install the Paho MQTT C 1.3 and OpenSSL 3 "
                            "libraries RobustMQ was built with", file, symbol);
    return p;
  });
  return missing;
}

std::string open_paho_locked(Library& lib, bool tls) {
  if (lib.paho_loaded.load(std::memory_order_relaxed)) return {};
  const char* file = tls ? kPahoTls : kPahoPlain;
  void* handle = ::dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return fmt::format("cannot load the Paho MQTT C library {}: {} (install Paho MQTT C 1.3 and "
                       "the libraries it needs: libpaho-mqtt1.3 on Debian)",
                       file, ::dlerror());  // NOLINT(concurrency-mt-unsafe): under lib.mu
  std::string error = resolve(handle, file, [&](auto find) {
#define ROBUSTMQ_FIND(name) lib.f.name = reinterpret_cast<decltype(lib.f.name)>(find(#name));
    ROBUSTMQ_PAHO_FUNCTIONS(ROBUSTMQ_FIND)
#undef ROBUSTMQ_FIND
  });
  if (!error.empty()) return error;
  lib.name = file;
  lib.paho_loaded.store(true, std::memory_order_release);
  return {};
}

std::string open_openssl_locked(Library& lib) {
  if (lib.openssl_loaded.load(std::memory_order_relaxed)) return {};
  void* handle = ::dlopen(kPahoTls, RTLD_NOW | RTLD_LOCAL);  // the one loaded, if any
  if (handle == nullptr)
    return fmt::format("cannot load OpenSSL with {}: {} (install Paho MQTT C 1.3 with TLS: "
                       "libpaho-mqtt1.3 on Debian)", kPahoTls,
                       ::dlerror());  // NOLINT(concurrency-mt-unsafe): under lib.mu
  std::string error = resolve(handle, kPahoTls, [&](auto find) {
#define ROBUSTMQ_FIND(name) lib.f.name = reinterpret_cast<decltype(lib.f.name)>(find(#name));
    ROBUSTMQ_OPENSSL_FUNCTIONS(ROBUSTMQ_FIND)
#undef ROBUSTMQ_FIND
  });
  if (!error.empty()) return error;
  lib.openssl_loaded.store(true, std::memory_order_release);
  return {};
}

[[noreturn]] void cannot_run(const std::string& why) {
  fmt::print(stderr, "robustmq-worker: {}\n", why);
  std::abort();
}

// The functions, for a call: a call before load_paho() opens the TLS library.
const Functions& paho() {
  Library& lib = library();
  if (lib.paho_loaded.load(std::memory_order_acquire)) return lib.f;
  std::lock_guard lock(lib.mu);
  if (auto error = open_paho_locked(lib, true); !error.empty()) cannot_run(error);
  return lib.f;
}

const Functions& openssl() {
  Library& lib = library();
  if (lib.openssl_loaded.load(std::memory_order_acquire)) return lib.f;
  std::lock_guard lock(lib.mu);
  if (auto error = open_openssl_locked(lib); !error.empty()) cannot_run(error);
  return lib.f;
}

}  // namespace

std::string load_paho(bool tls) {
  Library& lib = library();
  std::lock_guard lock(lib.mu);
  return open_paho_locked(lib, tls);
}

std::string paho_library_name() {
  Library& lib = library();
  std::lock_guard lock(lib.mu);
  return lib.name;
}

}  // namespace robustmq::worker

using robustmq::worker::openssl;
using robustmq::worker::paho;

// Every pointer is set once paho() or openssl() returns (resolve() refuses a missing one).
// NOLINTBEGIN(clang-analyzer-core.CallAndMessage,readability-identifier-naming,readability-inconsistent-declaration-parameter-name)
extern "C" {

int MQTTAsync_connect(MQTTAsync handle, const MQTTAsync_connectOptions* options) {
  return paho().MQTTAsync_connect(handle, options);
}
int MQTTAsync_create(MQTTAsync* handle, const char* serverURI, const char* clientId,
                     int persistence_type, void* persistence_context) {
  return paho().MQTTAsync_create(handle, serverURI, clientId, persistence_type,
                                 persistence_context);
}
int MQTTAsync_createWithOptions(MQTTAsync* handle, const char* serverURI, const char* clientId,
                                int persistence_type, void* persistence_context,
                                MQTTAsync_createOptions* options) {
  return paho().MQTTAsync_createWithOptions(handle, serverURI, clientId, persistence_type,
                                            persistence_context, options);
}
void MQTTAsync_destroy(MQTTAsync* handle) { paho().MQTTAsync_destroy(handle); }
int MQTTAsync_disconnect(MQTTAsync handle, const MQTTAsync_disconnectOptions* options) {
  return paho().MQTTAsync_disconnect(handle, options);
}
void MQTTAsync_free(void* ptr) { paho().MQTTAsync_free(ptr); }
void MQTTAsync_freeMessage(MQTTAsync_message** msg) { paho().MQTTAsync_freeMessage(msg); }
void MQTTAsync_global_init(MQTTAsync_init_options* inits) { paho().MQTTAsync_global_init(inits); }
int MQTTAsync_sendMessage(MQTTAsync handle, const char* destinationName,
                          const MQTTAsync_message* msg, MQTTAsync_responseOptions* response) {
  return paho().MQTTAsync_sendMessage(handle, destinationName, msg, response);
}
int MQTTAsync_setCallbacks(MQTTAsync handle, void* context, MQTTAsync_connectionLost* cl,
                           MQTTAsync_messageArrived* ma, MQTTAsync_deliveryComplete* dc) {
  return paho().MQTTAsync_setCallbacks(handle, context, cl, ma, dc);
}
int MQTTAsync_setDisconnected(MQTTAsync handle, void* context, MQTTAsync_disconnected* co) {
  return paho().MQTTAsync_setDisconnected(handle, context, co);
}
int MQTTProperties_add(MQTTProperties* props, const MQTTProperty* prop) {
  return paho().MQTTProperties_add(props, prop);
}
void MQTTProperties_free(MQTTProperties* properties) { paho().MQTTProperties_free(properties); }
int MQTTProperties_getNumericValue(MQTTProperties* props, enum MQTTPropertyCodes propid) {
  return paho().MQTTProperties_getNumericValue(props, propid);
}
MQTTProperty* MQTTProperties_getProperty(MQTTProperties* props, enum MQTTPropertyCodes propid) {
  return paho().MQTTProperties_getProperty(props, propid);
}
int MQTTProperties_hasProperty(MQTTProperties* props, enum MQTTPropertyCodes propid) {
  return paho().MQTTProperties_hasProperty(props, propid);
}
const char* MQTTReasonCode_toString(enum MQTTReasonCodes value) {
  return paho().MQTTReasonCode_toString(value);
}

char* CONF_get1_default_config_file(void) { return openssl().CONF_get1_default_config_file(); }
void CRYPTO_free(void* ptr, const char* file, int line) { openssl().CRYPTO_free(ptr, file, line); }
void ERR_clear_error(void) { openssl().ERR_clear_error(); }
void NCONF_free(CONF* conf) { openssl().NCONF_free(conf); }
STACK_OF(CONF_VALUE) * NCONF_get_section(const CONF* conf, const char* section) {
  return openssl().NCONF_get_section(conf, section);
}
char* NCONF_get_string(const CONF* conf, const char* group, const char* name) {
  return openssl().NCONF_get_string(conf, group, name);
}
int NCONF_load(CONF* conf, const char* file, long* eline) {
  return openssl().NCONF_load(conf, file, eline);
}
CONF* NCONF_new(CONF_METHOD* meth) { return openssl().NCONF_new(meth); }
void OPENSSL_INIT_free(OPENSSL_INIT_SETTINGS* settings) { openssl().OPENSSL_INIT_free(settings); }
OPENSSL_INIT_SETTINGS* OPENSSL_INIT_new(void) { return openssl().OPENSSL_INIT_new(); }
int OPENSSL_INIT_set_config_filename(OPENSSL_INIT_SETTINGS* settings, const char* config_filename) {
  return openssl().OPENSSL_INIT_set_config_filename(settings, config_filename);
}
int OPENSSL_init_ssl(uint64_t opts, const OPENSSL_INIT_SETTINGS* settings) {
  return openssl().OPENSSL_init_ssl(opts, settings);
}
int OPENSSL_sk_num(const OPENSSL_STACK* st) { return openssl().OPENSSL_sk_num(st); }
long SSL_CTX_ctrl(SSL_CTX* ctx, int cmd, long larg, void* parg) {
  return openssl().SSL_CTX_ctrl(ctx, cmd, larg, parg);
}
void SSL_CTX_free(SSL_CTX* ctx) { openssl().SSL_CTX_free(ctx); }
SSL_CTX* SSL_CTX_new(const SSL_METHOD* meth) { return openssl().SSL_CTX_new(meth); }
int SSL_CTX_set_cipher_list(SSL_CTX* ctx, const char* str) {
  return openssl().SSL_CTX_set_cipher_list(ctx, str);
}
const SSL_METHOD* TLS_client_method(void) { return openssl().TLS_client_method(); }

}  // extern "C"
// NOLINTEND(clang-analyzer-core.CallAndMessage,readability-identifier-naming,readability-inconsistent-declaration-parameter-name)
