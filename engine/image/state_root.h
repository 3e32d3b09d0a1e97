// Where Kiln keeps its state when no --root is given.
#ifndef KILN_ENGINE_IMAGE_STATE_ROOT_H_
#define KILN_ENGINE_IMAGE_STATE_ROOT_H_

#include <string>

namespace kiln::engine::image {

// /var/lib/kiln for root of the initial user namespace; otherwise
// ${XDG_DATA_HOME:-$HOME/.local/share}/kiln (the passwd home when HOME is unset). "Root"
// inside a rootless user namespace is really the invoking user, so it gets the latter too.
// Does not create anything. Thread-safe.
std::string DefaultStateRoot();

// Subdirectories of a state root: the content store and the image store.
inline std::string ContentStoreDir(const std::string& root) { return root + "/content"; }
inline std::string ImageStoreDir(const std::string& root) { return root + "/images"; }

}  // namespace kiln::engine::image

#endif  // KILN_ENGINE_IMAGE_STATE_ROOT_H_
