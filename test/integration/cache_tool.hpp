// Running robustmq-cache from an integration test (the real tool, ROBUSTMQ_CACHE_TOOL).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>

namespace robustmq::test {

// What `robustmq-cache ARGS` (ROBUSTMQ_CACHE_TOOL) printed and its exit status; stderr goes
// through a file in `scratch`. Under timeout(1): a tool that blocks fails the test instead of
// hanging it (status 124).
struct ToolRun {
  int status = -1;
  std::string out, err;
};
inline ToolRun run_cache_tool(const std::string& args, const std::filesystem::path& scratch) {
  const char* tool = std::getenv("ROBUSTMQ_CACHE_TOOL");
  REQUIRE_MESSAGE(tool != nullptr, "ROBUSTMQ_CACHE_TOOL is not set");
  const auto err = scratch / "stderr";
  const std::string cmd = "timeout 60 " + std::string(tool) + " " + args + " 2>'" +
                          err.string() + "'";
  ToolRun ran;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) ran.out.append(buf, n);
  const int st = ::pclose(p);
  REQUIRE(WIFEXITED(st));
  ran.status = WEXITSTATUS(st);
  std::ifstream in(err);
  ran.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return ran;
}

}  // namespace robustmq::test
