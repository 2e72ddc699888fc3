#include "worker/tls_version.hpp"

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include <fmt/format.h>

namespace robustmq::worker {

namespace {

struct Version {
  const char* option;   // Options::tls.min_version
  const char* openssl;  // MinProtocol
  int number;           // SSL_CTX_get_min_proto_version()
};
constexpr Version kVersions[] = {{"tlsv1.1", "TLSv1.1", TLS1_1_VERSION},
                                 {"tlsv1.2", "TLSv1.2", TLS1_2_VERSION},
                                 {"tlsv1.3", "TLSv1.3", TLS1_3_VERSION}};

// The system's OpenSSL configuration file, if it configures anything at start-up (its
// openssl_conf section is not empty): ours would replace that, silently. "" if not.
std::string system_configuration_in_use() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the worker has one thread yet
  const char* env = std::getenv("OPENSSL_CONF");
  char* builtin = env == nullptr ? CONF_get1_default_config_file() : nullptr;
  const std::string path = env != nullptr ? env : builtin != nullptr ? builtin : "";
  OPENSSL_free(builtin);
  if (path.empty()) return {};
  CONF* conf = NCONF_new(nullptr);
  long line = 0;
  bool in_use = false;
  if (conf != nullptr && NCONF_load(conf, path.c_str(), &line) > 0) {
    if (const char* section = NCONF_get_string(conf, nullptr, "openssl_conf")) {
      const STACK_OF(CONF_VALUE)* values = NCONF_get_section(conf, section);
      in_use = values != nullptr && sk_CONF_VALUE_num(values) > 0;
    }
  }
  NCONF_free(conf);
  ERR_clear_error();  // a missing file or key is no error here
  return in_use ? path : std::string();
}

}  // namespace

std::string apply_tls_min_version(const std::string& version) {
  if (version.empty()) return {};
  const Version* v = nullptr;
  for (const auto& known : kVersions)
    if (version == known.option) v = &known;
  if (v == nullptr)
    return fmt::format("tls.min_version '{}' is not tlsv1.1, tlsv1.2 or tlsv1.3", version);
  if (const auto system = system_configuration_in_use(); !system.empty())
    return fmt::format("tls.min_version {}: the system's OpenSSL configuration {} configures "
                       "OpenSSL at start-up, and RobustMQ would replace it: leave "
                       "tls.min_version empty and set MinProtocol in that file's system_default "
                       "section instead", version, system);
  const std::string text = fmt::format(
      "openssl_conf = robustmq_init\n"
      "[robustmq_init]\nssl_conf = robustmq_ssl\n"
      "[robustmq_ssl]\nsystem_default = robustmq_tls\n"
      "[robustmq_tls]\nMinProtocol = {}\n",
      v->openssl);
  const int fd = ::memfd_create("robustmq-openssl.cnf", MFD_CLOEXEC);
  if (fd < 0)
    return fmt::format("tls.min_version: memfd_create: {}", std::generic_category().message(errno));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const std::string path = fmt::format("/proc/self/fd/{}", fd);
  OPENSSL_INIT_SETTINGS* settings = OPENSSL_INIT_new();
  const bool loaded = written && settings != nullptr &&
                      OPENSSL_INIT_set_config_filename(settings, path.c_str()) == 1 &&
                      OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, settings) == 1;
  if (settings != nullptr) OPENSSL_INIT_free(settings);
  ::close(fd);
  // Whatever OpenSSL says, what counts is a context made now: Paho's will be made the same way.
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  const long got = ctx != nullptr ? SSL_CTX_get_min_proto_version(ctx) : -1;
  if (ctx != nullptr) SSL_CTX_free(ctx);
  if (!loaded || got != v->number)
    return fmt::format("tls.min_version {}: OpenSSL did not take the setting (its configuration "
                       "was loaded before, or /proc is not mounted)", version);
  return {};
}

std::string check_tls_ciphers(const std::string& ciphers) {
  if (ciphers.empty()) return {};
  // A context as Paho makes it, which takes the list or not.
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  const bool taken = ctx != nullptr && SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) == 1;
  if (ctx != nullptr) SSL_CTX_free(ctx);
  ERR_clear_error();
  if (taken) return {};
  return fmt::format("tls.ciphers '{}' names no cipher OpenSSL has for TLS 1.2 and below "
                     "(openssl ciphers -v lists them; TLS 1.3's are not chosen by this list)",
                     ciphers);
}

}  // namespace robustmq::worker
