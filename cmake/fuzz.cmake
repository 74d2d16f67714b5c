# Sanitizer and fuzzing builds of the C ABI (clang; used by .ci/run's long checks):
#   -DBLINDSIGHT_SANITIZE=ON  libblindsight itself with ASan + UBSan (the C ABI tests' drivers then run under them)
#   -DBLINDSIGHT_FUZZ=ON      blindsight_capi_fuzz: test/fuzz/capi_fuzz.cpp under libFuzzer, with the library's sources
#                             compiled in with ASan + UBSan
#   CC=clang-16 CXX=clang++-16 cmake -S . -B build-fuzz -DBLINDSIGHT_FUZZ=ON && cmake --build build-fuzz -j 2
option(BLINDSIGHT_SANITIZE "Build libblindsight with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(BLINDSIGHT_FUZZ "Build the libFuzzer harness of the C ABI (needs clang)" OFF)

set(_bs_sanitizers -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
if(BLINDSIGHT_SANITIZE)
  target_compile_options(blindsight PRIVATE ${_bs_sanitizers})
  target_link_options(blindsight PRIVATE -fsanitize=address,undefined)
endif()

if(BLINDSIGHT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "BLINDSIGHT_FUZZ needs clang (libFuzzer); configure with CXX=clang++")
  endif()
  add_executable(blindsight_capi_fuzz ${BLINDSIGHT_ROOT}/test/fuzz/capi_fuzz.cpp
                 ${_bs_core_sources} ${_bs_cpu_sources} ${_bs_level_sources} ${_bs_capi_sources})
  target_include_directories(blindsight_capi_fuzz PRIVATE ${BLINDSIGHT_ROOT}/native/include)
  target_compile_features(blindsight_capi_fuzz PRIVATE cxx_std_20)
  target_compile_definitions(blindsight_capi_fuzz PRIVATE BLINDSIGHT_BUILDING BLINDSIGHT_VERSION_STRING="${BLINDSIGHT_VERSION}")
  target_compile_options(blindsight_capi_fuzz PRIVATE -O1 ${_bs_sanitizers} -fsanitize=fuzzer)
  target_link_options(blindsight_capi_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(blindsight_capi_fuzz PRIVATE Threads::Threads)
endif()
