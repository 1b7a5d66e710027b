#!/usr/bin/env python3
"""ocitool.py - read an image out of an OCI image layout, for the build
tests (t0200-t0202).  An image is named IMAGE: "DIR:TAG" (an OCI layout
and the org.opencontainers.image.ref.name of one of its manifests) or
"buildah:FILE" (the JSON of `buildah inspect --type image`, for configs).

  ocitool.py digest DIR:TAG         the manifest's digest
  ocitool.py config DIR:TAG         the config, as JSON
  ocitool.py layers DIR:TAG         one line per layer: digest, media type
  ocitool.py entries DIR:TAG        every layer's tar entries, one line each:
                                    layer index, type, mode, uid:gid, name
                                    (and -> link target)
  ocitool.py find DIR:TAG STRING    exit 0 if STRING is in the index, the
                                    manifest, the config or the decompressed
                                    layers (prints where), else 1
  ocitool.py cfgcmp [--docker] A B  compare the configs of images A and B on
                                    Env, Cmd, Entrypoint, WorkingDir, User,
                                    ExposedPorts, Volumes, Labels, StopSignal
                                    (with --docker also Healthcheck, OnBuild
                                    and Shell); prints each difference, exit 1
                                    if any.  A buildah: side reads its Docker
                                    config with --docker, else its OCIv1 one.

Normalising in cfgcmp, and why: null, a missing key and an empty list or
map are the same (buildah writes "Cmd": [] where Docker leaves Cmd null
once ENTRYPOINT resets it); ExposedPorts and Volumes compare their keys;
Env compares as a set: buildah 1.28 moves a variable an ENV sets again to
the end of the list (ENV PATH=/x:$PATH puts PATH last), where Docker
replaces it in place; the label io.buildah.version (buildah's identity
label) is dropped.
"""
import gzip
import io
import json
import lzma
import os
import sys
import tarfile

FIELDS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts",
          "Volumes", "Labels", "StopSignal"]
DOCKER_FIELDS = ["Healthcheck", "OnBuild", "Shell"]


def blob(layout, digest):
    algo, hexd = digest.split(":", 1)
    with open(os.path.join(layout, "blobs", algo, hexd), "rb") as f:
        return f.read()


def split(image):
    # DIR:TAG, where DIR may itself hold ':'; the tag is after the last one
    d, _, tag = image.rpartition(":")
    if not d:
        sys.exit("ocitool: '%s' is not DIR:TAG" % image)
    return d, tag


def manifest_desc(layout, tag):
    idx = json.load(open(os.path.join(layout, "index.json")))
    for m in idx.get("manifests", []):
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return idx, m
    sys.exit("ocitool: no tag '%s' in %s" % (tag, layout))


def manifest(image):
    layout, tag = split(image)
    idx, desc = manifest_desc(layout, tag)
    raw = blob(layout, desc["digest"])
    m = json.loads(raw)
    if "manifests" in m:		# an index: its first manifest
        desc = m["manifests"][0]
        raw = blob(layout, desc["digest"])
        m = json.loads(raw)
    return layout, desc, m, raw


def config(image, docker=False):
    if image.startswith("buildah:"):
        d = json.load(open(image[len("buildah:"):]))
        c = d["Docker"] if docker else d["OCIv1"]
        return c
    layout, _, m, _ = manifest(image)
    return json.loads(blob(layout, m["config"]["digest"]))


def layer_bytes(layout, l):
    data = blob(layout, l["digest"])
    mt = l.get("mediaType", "")
    if mt.endswith("gzip") or data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if mt.endswith("zstd") or data[:4] == b"\x28\xb5\x2f\xfd":
        import subprocess
        return subprocess.run(["zstd", "-dc"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    return data


def norm(field, v):
    if v in (None, [], {}, ""):
        return None
    if field in ("ExposedPorts", "Volumes", "Env"):
        return sorted(v)
    if field == "Labels":
        v = {k: x for k, x in v.items() if k != "io.buildah.version"}
        return v or None
    return v


def cfgcmp(args):
    docker = False
    if args and args[0] == "--docker":
        docker = True
        args = args[1:]
    if len(args) != 2:
        sys.exit("usage: ocitool.py cfgcmp [--docker] A B")
    a, b = (config(x, docker).get("config") or {} for x in args)
    bad = 0
    for f in FIELDS + (DOCKER_FIELDS if docker else []):
        va, vb = norm(f, a.get(f)), norm(f, b.get(f))
        if va != vb:
            print("config %s differs: %s vs %s" % (f, json.dumps(va), json.dumps(vb)))
            bad += 1
    if bad:
        sys.exit(1)
    print("configs agree on %d fields" % len(FIELDS + (DOCKER_FIELDS if docker else [])))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "cfgcmp":
        return cfgcmp(args)
    if not args:
        sys.exit(__doc__)
    if cmd == "digest":
        print(manifest(args[0])[1]["digest"])
    elif cmd == "config":
        print(json.dumps(config(args[0]), indent=1, sort_keys=True))
    elif cmd == "layers":
        for l in manifest(args[0])[2]["layers"]:
            print(l["digest"], l.get("mediaType", ""))
    elif cmd == "entries":
        layout, _, m, _ = manifest(args[0])
        for i, l in enumerate(m["layers"]):
            with tarfile.open(fileobj=io.BytesIO(layer_bytes(layout, l))) as t:
                for e in t:
                    kind = {tarfile.REGTYPE: "f", tarfile.AREGTYPE: "f", tarfile.DIRTYPE: "d",
                            tarfile.SYMTYPE: "l", tarfile.LNKTYPE: "h", tarfile.CHRTYPE: "c",
                            tarfile.BLKTYPE: "b", tarfile.FIFOTYPE: "p"}.get(e.type, "?")
                    link = " -> " + e.linkname if e.linkname else ""
                    print("%d %s %04o %d:%d %s%s" % (i, kind, e.mode & 0o7777, e.uid, e.gid, e.name, link))
    elif cmd == "find":
        if len(args) != 2:
            sys.exit("usage: ocitool.py find DIR:TAG STRING")
        needle = args[1].encode()
        layout, desc, m, raw = manifest(args[0])
        found = []
        if needle in open(os.path.join(layout, "index.json"), "rb").read():
            found.append("index.json")
        if needle in raw:
            found.append("manifest")
        if needle in blob(layout, m["config"]["digest"]):
            found.append("config")
        for i, l in enumerate(m["layers"]):
            if needle in layer_bytes(layout, l):
                found.append("layer %d (%s)" % (i, l["digest"]))
        for f in found:
            print(f)
        sys.exit(0 if found else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
