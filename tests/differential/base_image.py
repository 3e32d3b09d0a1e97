"""Makes the second base image, busybox:1.35-etc: busybox:1.35 plus one layer holding
/etc/hosts, /etc/hostname, /etc/resolv.conf and /run. Cases that RUN use it: each tool mounts
its own files over those paths during a RUN, and where they are missing each leaves its own
empty mount-point stubs in the layer (Kiln's stubs are an open defect, see
known-differences.md; the case run-mount-stubs keeps plain busybox to show it).

The new layout is written under the run's temp dir; the source layout is only read."""

import hashlib
import io
import json
import os
import shutil
import tarfile

ETC_FILES = {
    "etc/hosts": b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "etc/hostname": b"kiln-differential\n",
    "etc/resolv.conf": b"nameserver 127.0.0.1\n",
}


def _write_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def _read_blob(layout, digest):
    with open(os.path.join(layout, "blobs", *digest.split(":", 1)), "rb") as f:
        return f.read()


def _etc_layer():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name in ("etc", "run"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = 0
            t.addfile(info)
        for name, data in sorted(ETC_FILES.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_etc_image(src, dest, ref):
    """Copies the OCI layout `src` to `dest` (a new dir) with one more layer; names it `ref`."""
    os.makedirs(os.path.join(dest, "blobs", "sha256"))
    with open(os.path.join(src, "index.json")) as f:
        index = json.load(f)
    manifest = json.loads(_read_blob(src, index["manifests"][0]["digest"]))
    config = json.loads(_read_blob(src, manifest["config"]["digest"]))
    for layer in manifest["layers"]:
        shutil.copyfile(os.path.join(src, "blobs", *layer["digest"].split(":", 1)),
                        os.path.join(dest, "blobs", *layer["digest"].split(":", 1)))
    layer = _etc_layer()
    layer_digest, layer_size = _write_blob(dest, layer)
    config["rootfs"]["diff_ids"].append(layer_digest)  # uncompressed: digest == diff_id
    config.setdefault("history", []).append(
        {"created_by": "tests/differential: /etc/hosts, /etc/hostname, /etc/resolv.conf, /run"})
    config_digest, config_size = _write_blob(dest, json.dumps(config).encode())
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": config_digest, "size": config_size}
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                               "digest": layer_digest, "size": layer_size})
    manifest_digest, manifest_size = _write_blob(dest, json.dumps(manifest).encode())
    name = "docker.io/library/" + ref
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": manifest_digest, "size": manifest_size,
                            "platform": {"architecture": "amd64", "os": "linux"},
                            "annotations": {"io.containerd.image.name": name,
                                            "org.opencontainers.image.ref.name": name}}]}
    with open(os.path.join(dest, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(dest, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return dest
