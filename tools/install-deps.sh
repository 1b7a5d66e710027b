#!/bin/sh
# install-deps.sh - install, as root, every Debian 12 package govc needs to
# build, test and benchmark.  Why each is needed: docs/dependencies.md.
set -eu
if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: run as root (sudo $0)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential autoconf automake libtool pkg-config ca-certificates \
	libfuse3-dev fuse3 libgit2-dev liblmdb-dev lmdb-utils libssl-dev zlib1g-dev \
	libarchive-dev libzstd-dev libcurl4-openssl-dev libjansson-dev libcmocka-dev \
	git rsync attr vim-tiny make tar gzip zstd xz-utils procps psmisc \
	skopeo umoci bubblewrap crun busybox-static fuse-overlayfs squashfuse \
	squashfs-tools hyperfine docker-registry buildah python3 time \
	clang libclang-rt-14-dev
