#include "pub_options_file.hpp"

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace robustmq::pub {

std::vector<std::string> options_file_words(const std::optional<std::string>& path,
                                            std::string& used) {
  used.clear();
  std::string file;
  // NOLINTBEGIN(concurrency-mt-unsafe): parse() runs before any thread starts
  if (path) {
    file = *path;
  } else if (const char* x = std::getenv("XDG_CONFIG_HOME"); x != nullptr && *x == '/') {
    file = std::string(x) + "/robustmq-pub";
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    file = std::string(h) + "/.config/robustmq-pub";
  } else {
    return {};
  }
  // NOLINTEND(concurrency-mt-unsafe)
  std::ifstream in(file);
  if (!in) {
    if (path) usage_error("cannot read the options file " + file + " (-o)");
    return {};
  }
  used = file;
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string word;
    if (!(fields >> word) || word[0] == '#') continue;
    do words.push_back(word);
    while (fields >> word);
  }
  return words;
}

bool replaced(int option, const std::set<int>& given) {
  const auto any = [&given](std::initializer_list<int> options) {
    for (const int o : options)
      if (given.contains(o)) return true;
    return false;
  };
  switch (option) {
    case 'm': case 'l': case 'f': case 's': case 'n': case kDrain:
      return any({'m', 'l', 'f', 's', 'n', kDrain});
    case 'h': case 'p': return any({option, 'L'});
    case 'L': return any({'L', 'h', 'p'});
    case 'P': case kPwFile: return any({'P', kPwFile});
    default: return given.contains(option);
  }
}

}  // namespace robustmq::pub
