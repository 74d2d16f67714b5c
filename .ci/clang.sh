#!/usr/bin/env bash
# The clang build, as Apple's toolchain will compile the package: the addon (node-gyp) and libblindsight (CMake) with
# clang-16 and warnings as errors on the project's own files, then the kernel levels against the float64 reference on
# the addon clang built. Uses build-clang/ and build-capi-clang/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-clang-16}
command -v "$CLANG" >/dev/null && command -v "${CLANG/clang/clang++}" >/dev/null || { echo "clang: SKIPPED ($CLANG not installed)"; exit 0; }
CLANGXX=${CLANG/clang/clang++}
warn="-Wall -Wextra -Werror"
stage=build-clang
rm -rf "$stage"
mkdir -p "$stage"
cp -r package.json binding.gyp native "$stage"/
ln -s ../node_modules "$stage"/node_modules
start=$(date +%s)
# BLINDSIGHT_GLIBC_FLOOR=1 compiles native/compat/glibc_floor.c as well (Linux).
# npm's own node-gyp (the one `npm install` uses), with the headers of the running Node.
gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
(cd "$stage" && BLINDSIGHT_GLIBC_FLOOR=1 CC=$CLANG CXX=$CLANGXX CFLAGS="$warn" CXXFLAGS="$warn" \
  node "$gyp" rebuild --nodedir="$(dirname "$(dirname "$(command -v node)")")" -j 2 --loglevel=warn)
echo "clang: the addon built in $(( $(date +%s) - start )) s"
rm -rf build-capi-clang
cmake -S . -B build-capi-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=$CLANG -DCMAKE_CXX_COMPILER=$CLANGXX \
  -DCMAKE_CXX_FLAGS="$warn" -DCMAKE_C_FLAGS="$warn" > /dev/null
cmake --build build-capi-clang -j 2 > /dev/null
echo "clang: libblindsight built in $(( $(date +%s) - start )) s (with the addon)"
addon=$(BLINDSIGHT_PREBUILD="$PWD/$stage" node --input-type=module -e "import('./dist/index.js').then((m) => console.log(m.nativeAddonPath()))")
case $addon in "$PWD/$stage/"*) echo "clang: testing $addon" ;; *) echo "clang: loaded $addon, not the clang build" >&2; exit 1 ;; esac
BLINDSIGHT_PREBUILD="$PWD/$stage" npx vitest run test/kernels/levels.test.ts test/kernels/attention.test.ts \
  test/kernels/dtype.test.ts test/kernels/mass.test.ts
