#!/usr/bin/env bash
# An older glibc for test/e2e/glibc_floor.test.ts: Debian 11's C and C++ runtime libraries (glibc 2.31, libpthread
# still separate from libc as in glibc 2.28), unpacked by debootstrap's first stage into .cache/oldroot/<arch>
# (ignored by git, reused). Not a chroot: the test starts Node with that root's dynamic loader (x64) or with qemu-user
# taking it as the arm64 system (QEMU_LD_PREFIX). Debian 10 (glibc 2.28 itself) is no longer on the Debian mirror.
#   bash .ci/oldroot.sh x64|arm64
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$1
case $arch in x64) deb=amd64 triple=x86_64-linux-gnu ;; arm64) deb=arm64 triple=aarch64-linux-gnu ;; *) echo "oldroot: unknown arch $arch" >&2; exit 2 ;; esac
root=.cache/oldroot/$arch
if [ -e "$root/usr/lib/$triple/libc.so.6" ]; then echo "oldroot: $root is there"; exit 0; fi
command -v debootstrap >/dev/null || { echo "oldroot: SKIPPED (no debootstrap)"; exit 0; }
rm -rf "$root.tmp"
mkdir -p "$(dirname "$root")"
if timeout 600 debootstrap --foreign --variant=minbase --arch="$deb" bullseye "$root.tmp" http://deb.debian.org/debian > .cache/oldroot/$arch.log 2>&1; then
  mv "$root.tmp" "$root"
  echo "oldroot: made $root ($(readlink "$root/usr/lib/$triple/libc.so.6"))"
else
  echo "oldroot: SKIPPED (debootstrap failed, see .cache/oldroot/$arch.log)"
  rm -rf "$root.tmp"
fi
