// Internal: the kiln-init binary (sandbox/init/kiln_init.cc), embedded at build time by
// sandbox/init/embed.cmake.
#ifndef KILN_SANDBOX_INIT_IMAGE_H_
#define KILN_SANDBOX_INIT_IMAGE_H_

#include <cstddef>

namespace kiln::sandbox::internal {

extern const unsigned char kInitImage[];
extern const size_t kInitImageSize;

}  // namespace kiln::sandbox::internal

#endif  // KILN_SANDBOX_INIT_IMAGE_H_
