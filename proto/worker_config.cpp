#include "proto/worker_config.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "proto/worker_config_fields.hpp"

namespace robustmq {

namespace {

using Properties = std::vector<std::pair<std::string, std::string>>;
using Strings = std::vector<std::string>;

void put_u16(std::string& out, std::uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }
void put_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

void put(std::string& out, std::string_view key, std::string_view value) {
  put_u16(out, static_cast<std::uint16_t>(key.size()));
  out.append(key);
  put_u32(out, static_cast<std::uint32_t>(value.size()));
  out.append(value);
}

template <typename T>
struct Number {  // how a number is written: itself
  using type = T;
  static constexpr T count(T v) { return v; }
};
template <typename Rep, typename Period>
struct Number<std::chrono::duration<Rep, Period>> {  // a duration: its count
  using type = Rep;
  static constexpr Rep count(std::chrono::duration<Rep, Period> v) { return v.count(); }
};

template <typename T>
constexpr std::string_view unit_of() {
  if constexpr (std::is_same_v<T, std::chrono::milliseconds>) return " ms";
  else if constexpr (std::is_same_v<T, std::chrono::seconds>) return " s";
  else return "";
}

template <typename T>
std::string joined_names() {
  std::string out;
  for (const std::string_view name : names_of(std::type_identity<T>{})) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// A value from a blob, quoted in an error: short printable text as it is, else its size. Only
// values of numbers, flags and enumerations are ever shown, never text (a password).
std::string shown(std::string_view text) {
  const bool plain = text.size() <= 24 && std::all_of(text.begin(), text.end(), [](char ch) {
                       return ch >= 0x20 && ch < 0x7f && ch != '\'';
                     });
  return plain ? fmt::format("'{}'", text) : fmt::format("({} bytes)", text.size());
}

std::string properties_text(const Properties& properties) {
  std::string out;
  for (const auto& [name, value] : properties) {
    out += name;
    out += '\0';
    out += value;
    out += '\0';
  }
  return out;
}

bool parse_properties(std::string_view packed, Properties& out) {
  Properties list;
  while (!packed.empty()) {
    const auto name_end = packed.find('\0');
    if (name_end == std::string_view::npos) return false;
    const auto value_end = packed.find('\0', name_end + 1);
    if (value_end == std::string_view::npos) return false;
    list.emplace_back(packed.substr(0, name_end),
                      packed.substr(name_end + 1, value_end - name_end - 1));
    packed.remove_prefix(value_end + 1);
  }
  out = std::move(list);
  return true;
}

std::string strings_text(const Strings& items) {
  std::string out;
  for (const auto& item : items) {
    out += item;
    out += '\0';
  }
  return out;
}

bool parse_strings(std::string_view packed, Strings& out) {
  Strings list;
  while (!packed.empty()) {
    const auto end = packed.find('\0');
    if (end == std::string_view::npos) return false;
    list.emplace_back(packed.substr(0, end));
    packed.remove_prefix(end + 1);
  }
  out = std::move(list);
  return true;
}

template <typename T>
std::string to_text(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (std::is_same_v<T, Strings>) {
    return strings_text(v);
  } else if constexpr (std::is_same_v<T, Properties>) {
    return properties_text(v);
  } else if constexpr (Named<T>) {
    const auto names = names_of(std::type_identity<T>{});
    const auto i = static_cast<std::size_t>(v);
    return i < names.size() ? std::string(names[i]) : std::to_string(i);  // the decoder refuses it
  } else {
    return std::to_string(Number<T>::count(v));
  }
}

// Reads `text` into `out`. An error names the field and the values it takes; a number that
// fits its type but not its limits is left to range_error().
template <typename T>
std::optional<std::string> from_text(std::string_view text, T& out, std::string_view name,
                                     Limits limits) {
  if constexpr (std::is_same_v<T, std::string>) {
    out.assign(text);
  } else if constexpr (std::is_same_v<T, Strings>) {
    if (!parse_strings(text, out)) return fmt::format("{} is not a list of NUL-terminated texts", name);
  } else if constexpr (std::is_same_v<T, Properties>) {
    if (!parse_properties(text, out))
      return fmt::format("{} is not a list of NUL-terminated names and values", name);
  } else if constexpr (Named<T>) {
    const auto names = names_of(std::type_identity<T>{});
    const auto found = std::find(names.begin(), names.end(), text);
    if (found == names.end())
      return fmt::format("{} {} is not one of {}", name, shown(text), joined_names<T>());
    out = static_cast<T>(found - names.begin());
  } else {
    using N = typename Number<T>::type;
    N n{};
    const char* end = text.data() + text.size();
    const auto [stop, ec] = std::from_chars(text.data(), end, n);
    if (ec != std::errc() || stop != end)
      return fmt::format("{} {} is not a number in {}..{}{}", name, shown(text), limits.min,
                         std::min<std::uint64_t>(limits.max, std::numeric_limits<N>::max()),
                         unit_of<T>());
    out = T(n);
  }
  return std::nullopt;
}

template <typename T>
std::optional<std::string> value_error(const T& v, std::string_view name, Limits limits) {
  if constexpr (std::is_same_v<T, Properties> || std::is_same_v<T, Strings>) {
    return std::nullopt;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (limits.admits(v.size())) return std::nullopt;
    if (v.empty()) return fmt::format("{} is empty", name);
    return fmt::format("{} is {} bytes long, outside {}..{} bytes", name, v.size(), limits.min,
                       limits.max);
  } else if constexpr (Named<T>) {
    const auto n = static_cast<std::int64_t>(v);
    if (limits.admits(n)) return std::nullopt;
    return fmt::format("{} {} is not one of {}", name, n, joined_names<T>());
  } else {
    const auto n = Number<T>::count(v);
    if (limits.admits(n)) return std::nullopt;
    constexpr auto unit = unit_of<T>();
    if (limits.max == kUnbounded)
      return fmt::format("{} {}{} is below the minimum of {}{}", name, n, unit, limits.min, unit);
    return fmt::format("{} {}{} is outside {}..{}{}", name, n, unit, limits.min, limits.max, unit);
  }
}

template <typename F>
std::string_view field_name(const F& field, FieldNames names) {
  return names == FieldNames::options ? field.option : field.key;
}

std::string_view name_of_key(std::string_view key, FieldNames names) {
  std::string_view name;
  for_each_field([&](const auto& field) {
    if (field.key == key) name = field_name(field, names);
  });
  return name;
}

}  // namespace

WorkerConfig worker_config(const Options& options) {
  WorkerConfig c;
  for_each_field([&](const auto& field) {
    if constexpr (!std::is_same_v<std::decay_t<decltype(field.from)>, Computed>)
      c.*field.member = std::invoke(field.from, options);
  });
  return c;
}

std::optional<std::string> range_error(const WorkerConfig& c, FieldNames names) {
  std::optional<std::string> error;
  for_each_field([&](const auto& field) {
    if (error) return;
    if constexpr (std::is_same_v<std::decay_t<decltype(field.from)>, Computed>) {
      if (names == FieldNames::options) return;
    }
    error = value_error(c.*field.member, field_name(field, names), field.limits);
  });
  if (!error && c.reconnect_max < c.reconnect_min)
    error = fmt::format("{} {} ms is below {} {} ms", name_of_key("reconnect_max_ms", names),
                        c.reconnect_max.count(), name_of_key("reconnect_min_ms", names),
                        c.reconnect_min.count());
  return error;
}

std::string encode(const WorkerConfig& c) {
  std::string body;
  for_each_field([&](const auto& field) { put(body, field.key, to_text(c.*field.member)); });
  std::string out;
  put_u32(out, kConfigMagic);
  put_u32(out, static_cast<std::uint32_t>(8 + body.size()));
  out += body;
  return out;
}

std::optional<WorkerConfig> decode_worker_config(std::string_view blob, std::string& error) {
  auto get32 = [&](std::size_t at) {
    std::uint32_t v;
    std::memcpy(&v, blob.data() + at, 4);
    return v;
  };
  if (blob.size() < 8 || blob.size() > kMaxConfigBytes) {
    error = fmt::format("configuration of {} bytes is malformed", blob.size());
    return std::nullopt;
  }
  if (get32(0) != kConfigMagic || get32(4) != blob.size()) {
    error = "configuration has a wrong magic or length";
    return std::nullopt;
  }
  WorkerConfig c;
  std::size_t at = 8;
  while (at < blob.size()) {
    if (blob.size() - at < 2) { error = "configuration entry truncated"; return std::nullopt; }
    std::uint16_t klen;
    std::memcpy(&klen, blob.data() + at, 2);
    at += 2;
    if (blob.size() - at < std::size_t{klen} + 4) {
      error = "configuration key truncated";
      return std::nullopt;
    }
    std::string_view key = blob.substr(at, klen);
    at += klen;
    const std::uint32_t vlen = get32(at);
    at += 4;
    if (blob.size() - at < vlen) { error = "configuration value truncated"; return std::nullopt; }
    std::string_view value = blob.substr(at, vlen);
    at += vlen;
    std::optional<std::string> bad;
    for_each_field([&](const auto& field) {
      if (field.key == key) bad = from_text(value, c.*field.member, field.key, field.limits);
    });
    if (bad) {
      error = "configuration: " + *bad;
      return std::nullopt;
    }
  }
  if (auto bad = range_error(c, FieldNames::keys)) {
    error = "configuration: " + *bad;
    return std::nullopt;
  }
  return c;
}

}  // namespace robustmq
