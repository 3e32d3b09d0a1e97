// Helpers for the image tests: running real tools, making tiny images in a ContentStore.
#ifndef KILN_TESTS_ENGINE_IMAGE_TEST_UTIL_H_
#define KILN_TESTS_ENGINE_IMAGE_TEST_UTIL_H_

#include <string>
#include <vector>

#include "cache/content_store.h"
#include "engine/oci/descriptor.h"

namespace kiln::engine::image::test_util {

struct RunResult {
  int exit_code = -1;  // -1: could not start / killed
  std::string output;  // stdout + stderr
};

// Runs argv[0] (searched in PATH) as a child process and waits for it.
RunResult RunTool(const std::vector<std::string>& argv);

// Full path of `tool` in PATH, or empty.
std::string FindTool(const std::string& tool);

void WriteFile(const std::string& path, const std::string& bytes);
std::string ReadFile(const std::string& path);

// A tiny single-layer image in `store`: one file "hello.txt" holding `text`, layer tar made
// with the `tar` CLI in `scratch` (gzip-compressed when `gzip`). Config Env has
// "GREETING=<text>", platform os/arch as given. Returns the manifest descriptor.
oci::Descriptor MakeImage(cache::ContentStore& store, const std::string& scratch,
                          const std::string& text, bool gzip = true,
                          const std::string& arch = "amd64");

// An OCI index over the given manifests (their platform fields must be set). Stored in
// `store`; returns its descriptor.
oci::Descriptor MakeIndex(cache::ContentStore& store,
                          const std::vector<oci::Descriptor>& manifests);

// Where tools/images/build.sh put the busybox layout, or empty if none is complete.
std::string BusyboxLayoutDir();

}  // namespace kiln::engine::image::test_util

#endif  // KILN_TESTS_ENGINE_IMAGE_TEST_UTIL_H_
