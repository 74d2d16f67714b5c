#!/usr/bin/env bash
# The long checks .ci/run runs after `npm test` (each bounded in time; run any of them by hand the same way):
#   sanitizers  the addon built with ASan + UBSan (gcc) runs the kernel, error and robustness tests
#   fuzz-capi   the C ABI's libFuzzer harness (clang, ASan + UBSan) for FUZZ_SECONDS (default 120)
#   fuzz-js     the JS API fuzzer for FUZZ_SECONDS
# usage: scripts/long-checks.sh [sanitizers] [fuzz-capi] [fuzz-js]   (no argument: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-120}
checks=("$@")
[ ${#checks[@]} -eq 0 ] && checks=(sanitizers fuzz-capi fuzz-js)

# Debian packages by name (the only network the machines have besides npm); says so and fails if that is impossible.
need_packages() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "long checks: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${missing[@]}" >/dev/null; fi
}

for check in "${checks[@]}"; do
  case "$check" in
    sanitizers)
      echo "== sanitizers: the addon with ASan + UBSan"
      dir=$root/build-sanitize/pkg
      rm -rf "$dir" && mkdir -p "$dir"
      cp -r native binding.gyp package.json "$dir"/
      ln -s "$root/node_modules" "$dir/node_modules"
      flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
      (cd "$dir" && CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" timeout 1500 npm run build:native -- -j 2 >"$root/build-sanitize/build.log" 2>&1) ||
        { tail -40 "$root/build-sanitize/build.log"; exit 1; }
      LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        BLINDSIGHT_SANITIZED=1 BLINDSIGHT_PREBUILD="$dir" timeout 1800 npx vitest run test/kernels/attention.test.ts test/kernels/dtype.test.ts \
        test/kernels/mass.test.ts test/kernels/nonfinite.test.ts test/kernels/ranges.test.ts test/unit test/e2e/robustness.test.ts test/e2e/error_codes.test.ts
      ;;
    fuzz-capi)
      echo "== fuzz-capi: libFuzzer on the C ABI, ${seconds} s"
      # Both by name: clang-16 alone (which .ci/run installs for the clang build) lacks the fuzzer and ASan runtimes.
      need_packages clang-16 libclang-rt-16-dev
      CC=clang-16 CXX=clang++-16 cmake -S . -B build-fuzz -DBLINDSIGHT_FUZZ=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
      timeout 1200 cmake --build build-fuzz -j 2 --target blindsight_capi_fuzz >build-fuzz/build.log 2>&1 || { tail -40 build-fuzz/build.log; exit 1; }
      mkdir -p build-fuzz/corpus
      timeout $((seconds + 120)) build-fuzz/blindsight_capi_fuzz -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 \
        -print_final_stats=1 build-fuzz/corpus 2>build-fuzz/fuzz.log || { tail -60 build-fuzz/fuzz.log; exit 1; }
      grep -E "stat::number_of_executed_units|DONE" build-fuzz/fuzz.log | tail -2
      ;;
    fuzz-js)
      echo "== fuzz-js: the JS API fuzzer, ${seconds} s"
      timeout $((seconds + 120)) node test/fuzz/api_fuzz.mjs --seconds "$seconds" --seed "$((RANDOM + 1))"
      ;;
    *) echo "unknown check $check" >&2; exit 2 ;;
  esac
done
