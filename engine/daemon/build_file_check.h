// kilnd's check of the files a Solve starts from. A root kilnd reads the Dockerfile and the
// ignore file for its caller, so it opens the very files the engine will open (build_files.h:
// fds below their directories, names without '/' or '..' at the start, links kept inside)
// and requires that the caller could read each of them where it really is.
#ifndef KILN_ENGINE_DAEMON_BUILD_FILE_CHECK_H_
#define KILN_ENGINE_DAEMON_BUILD_FILE_CHECK_H_

#include "absl/status/status.h"
#include "engine/core/engine.h"
#include "engine/daemon/peer.h"

namespace kiln::engine::daemon {

// OK when `peer` may read the request's Dockerfile and ignore file. Errors: those of
// ReadBuildFiles (InvalidArgument for an absolute name or one with '..', NotFound,
// PermissionDenied for a link out of the directory), and CheckPeerCanRead's PermissionDenied
// naming the resolved path. No error quotes the files' contents.
absl::Status CheckBuildFiles(const PeerCredentials& peer, const BuildRequest& request);

}  // namespace kiln::engine::daemon

#endif  // KILN_ENGINE_DAEMON_BUILD_FILE_CHECK_H_
