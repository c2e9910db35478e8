#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every Debian package Keel's build, tests and `make run` need, and
# unpack the arm64-only packages (gnu-efi, libfdt) into $KEEL_CACHE, keyed by
# version. Does nothing (and needs no network) when all of it is there.
# (Kernel headers and kbuild for keel.ko are downloaded and unpacked by
# tools/kmod.py, for the exact kernel the assets use; their tools need
# libelf1, libssl3 and zlib1g, and Debian's kernels name gcc-12.)
set -eu

KEEL_CACHE=${KEEL_CACHE:-$HOME/.cache/keel}
PACKAGES="build-essential gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu gnu-efi libfdt-dev
picolibc-aarch64-linux-gnu qemu-system-x86 qemu-system-arm ovmf qemu-efi-aarch64
mtools dosfstools busybox-static python3-pytest cpio bochs bochsbios vgabios
libc6-dev-arm64-cross gcc-12 gcc-12-aarch64-linux-gnu libelf1 libssl3 zlib1g
ipxe-qemu qemu-utils clang libclang-rt-14-dev clang-format swtpm swtpm-tools
python3-matplotlib"
ARM64_PACKAGES="gnu-efi libfdt-dev"

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

# arm64 packages: fetched as .deb files and unpacked, never installed (they
# would replace the amd64 gnu-efi). The sysroot's name carries their versions.
have_arm64_index() {
	dpkg --print-foreign-architectures | grep -qx arm64 &&
		apt-cache policy gnu-efi:arm64 2>/dev/null | grep -q 'Candidate: [0-9]'
}
candidate() {
	apt-cache policy "$1:arm64" 2>/dev/null | sed -n 's/^ *Candidate: //p'
}

# One `apt-get update`, after arm64 is a foreign architecture, so that the
# index it fetches covers both the amd64 installs and the arm64 downloads.
need_arm64=no
if ! have_arm64_index && [ ! -e "$KEEL_CACHE/sysroot-aarch64/.complete" ]; then
	need_arm64=yes
fi
if [ -n "$missing" ] || [ "$need_arm64" = yes ]; then
	dpkg --print-foreign-architectures | grep -qx arm64 || as_root dpkg --add-architecture arm64
	as_root apt-get update -q
fi
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
if ! have_arm64_index; then
	if [ -e "$KEEL_CACHE/sysroot-aarch64/.complete" ]; then
		exit 0 # unpacked earlier; nothing to compare versions against offline
	fi
	echo "deps: apt has no arm64 package index (is arm64 in the apt sources' architectures?)" >&2
	exit 1
fi

# As root, apt drops to _apt to download, which cannot write to $HOME.
sandbox=""
[ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"

key=""
for p in $ARM64_PACKAGES; do
	key="$key-${p}_$(candidate "$p")"
done
key=$(echo "$key" | tr -c 'A-Za-z0-9.+_\n-' '_')
root="$KEEL_CACHE/sysroot-aarch64$key"
if [ ! -e "$root/.complete" ]; then
	mkdir -p "$KEEL_CACHE/debs" "$root"
	for p in $ARM64_PACKAGES; do
		v=$(candidate "$p")
		deb=$(ls "$KEEL_CACHE/debs/${p}_$(echo "$v" | sed 's/^[0-9]*://')_arm64.deb" 2>/dev/null || true)
		if [ -z "$deb" ]; then
			(cd "$KEEL_CACHE/debs" && apt-get download -q $sandbox "$p:arm64=$v")
			deb=$(ls "$KEEL_CACHE/debs/${p}_"*"_arm64.deb" | tail -n 1)
		fi
		dpkg-deb -x "$deb" "$root"
	done
	touch "$root/.complete"
	echo "deps: arm64 sysroot in $root"
fi
ln -sfn "$root" "$KEEL_CACHE/sysroot-aarch64"
