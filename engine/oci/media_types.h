// Media types of OCI and Docker schema2 images, and predicates over them.
#ifndef KILN_ENGINE_OCI_MEDIA_TYPES_H_
#define KILN_ENGINE_OCI_MEDIA_TYPES_H_

#include <string_view>

#include "snapshotter/diff/layer.h"

namespace kiln::engine::oci {

// OCI image spec v1.
inline constexpr std::string_view kMediaTypeOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kMediaTypeOciManifest =
    "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kMediaTypeOciConfig = "application/vnd.oci.image.config.v1+json";
// Layers: the one definition is snapshotter/diff/layer.h (which the layer codecs use).
inline constexpr std::string_view kMediaTypeOciLayer = snapshotter::kMediaTypeLayerTar;
inline constexpr std::string_view kMediaTypeOciLayerGzip = snapshotter::kMediaTypeLayerGzip;
inline constexpr std::string_view kMediaTypeOciLayerZstd = snapshotter::kMediaTypeLayerZstd;

// Docker image manifest v2 schema 2 and manifest list.
inline constexpr std::string_view kMediaTypeDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kMediaTypeDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kMediaTypeDockerConfig =
    "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kMediaTypeDockerLayer = snapshotter::kMediaTypeDockerLayerTar;
inline constexpr std::string_view kMediaTypeDockerLayerGzip =
    snapshotter::kMediaTypeDockerLayerGzip;

// Annotations.
inline constexpr std::string_view kAnnotationRefName = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kAnnotationContainerdImageName = "io.containerd.image.name";

// An index or manifest list (a set of manifests).
constexpr bool IsIndexMediaType(std::string_view mt) {
  return mt == kMediaTypeOciIndex || mt == kMediaTypeDockerManifestList;
}
// A single-platform image manifest.
constexpr bool IsManifestMediaType(std::string_view mt) {
  return mt == kMediaTypeOciManifest || mt == kMediaTypeDockerManifest;
}
constexpr bool IsConfigMediaType(std::string_view mt) {
  return mt == kMediaTypeOciConfig || mt == kMediaTypeDockerConfig;
}
// A filesystem layer, compressed or not (including the foreign/non-distributable variants).
constexpr bool IsLayerMediaType(std::string_view mt) {
  return mt.starts_with("application/vnd.oci.image.layer.") ||
         mt.starts_with("application/vnd.docker.image.rootfs.");
}

}  // namespace kiln::engine::oci

#endif  // KILN_ENGINE_OCI_MEDIA_TYPES_H_
