# libblindsight: the C ABI (native/include/blindsight.h) as a shared library, built from the same core and CPU
# backend sources as the Node addon (binding.gyp), plus native/capi/.
#
#   cmake -S . -B build-capi -DCMAKE_BUILD_TYPE=Release && cmake --build build-capi -j
#   -> build-capi/libblindsight.so (.dylib, .dll), with native/include/blindsight.h as its header
#
# Options: BLINDSIGHT_CUDA=ON also compiles native/cuda/ (nvcc) and enables blindsight_attention_cuda().
# `cmake --install` puts the library in lib/ and the header in include/.

option(BLINDSIGHT_CUDA "Build the CUDA backend into libblindsight (needs nvcc)" OFF)

set(BLINDSIGHT_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
file(READ ${BLINDSIGHT_ROOT}/package.json _bs_package_json)
string(JSON BLINDSIGHT_VERSION GET ${_bs_package_json} version)

# Globbed rather than listed so a source added for the addon (binding.gyp) is in the library too. Every kernel family
# is compiled once per ISA level (native/cpu/levels/<level>.cpp), each level with the flags native/cpu/isa_levels.json
# gives it (the file binding.gyp reads too); native/cpu/isa.cpp picks a level at run time.
file(GLOB _bs_core_sources CONFIGURE_DEPENDS ${BLINDSIGHT_ROOT}/native/core/*.cpp)
file(GLOB _bs_cpu_sources CONFIGURE_DEPENDS ${BLINDSIGHT_ROOT}/native/cpu/*.cpp ${BLINDSIGHT_ROOT}/native/cpu/mass/*.cpp)
file(GLOB _bs_capi_sources CONFIGURE_DEPENDS ${BLINDSIGHT_ROOT}/native/capi/*.cpp)

set(_bs_x86 FALSE)
set(_bs_arm64 FALSE)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  set(_bs_x86 TRUE)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(_bs_arm64 TRUE)
endif()
if(APPLE AND CMAKE_OSX_ARCHITECTURES)
  # A macOS build names its target in CMAKE_OSX_ARCHITECTURES (one architecture per build: the levels differ).
  set(_bs_x86 FALSE)
  set(_bs_arm64 FALSE)
  if(CMAKE_OSX_ARCHITECTURES STREQUAL "x86_64")
    set(_bs_x86 TRUE)
  elseif(CMAKE_OSX_ARCHITECTURES STREQUAL "arm64")
    set(_bs_arm64 TRUE)
  endif()
endif()
set(_bs_flag_kind gcc)
if(MSVC)
  set(_bs_flag_kind msvc)
endif()
file(READ ${BLINDSIGHT_ROOT}/native/cpu/isa_levels.json _bs_isa_json)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${BLINDSIGHT_ROOT}/native/cpu/isa_levels.json)
string(JSON _bs_num_levels LENGTH "${_bs_isa_json}" levels)
math(EXPR _bs_last_level "${_bs_num_levels} - 1")
set(_bs_level_sources)
foreach(_i RANGE ${_bs_last_level})
  string(JSON _name GET "${_bs_isa_json}" levels ${_i} name)
  string(JSON _arch GET "${_bs_isa_json}" levels ${_i} arch)
  # binding.gyp likewise builds the x86 levels only for x64 and the arm64 ones only for arm64 (not with MSVC, which
  # has no BFDOT intrinsics; native/cpu/isa.h lists the same levels).
  if((_arch STREQUAL "x64" AND NOT _bs_x86) OR (_arch STREQUAL "arm64" AND (NOT _bs_arm64 OR MSVC)))
    continue()
  endif()
  set(_src ${BLINDSIGHT_ROOT}/native/cpu/levels/${_name}.cpp)
  string(JSON _nflags LENGTH "${_bs_isa_json}" levels ${_i} flags ${_bs_flag_kind})
  set(_flags)
  if(_nflags GREATER 0)
    math(EXPR _last_flag "${_nflags} - 1")
    foreach(_j RANGE ${_last_flag})
      string(JSON _flag GET "${_bs_isa_json}" levels ${_i} flags ${_bs_flag_kind} ${_j})
      list(APPEND _flags ${_flag})
    endforeach()
  endif()
  set_source_files_properties(${_src} PROPERTIES COMPILE_OPTIONS "${_flags}")
  list(APPEND _bs_level_sources ${_src})
endforeach()

add_library(blindsight SHARED ${_bs_core_sources} ${_bs_cpu_sources} ${_bs_level_sources} ${_bs_capi_sources})
target_compile_features(blindsight PRIVATE cxx_std_20)
set_target_properties(blindsight PROPERTIES
  CXX_EXTENSIONS OFF
  CXX_VISIBILITY_PRESET hidden  # only BLINDSIGHT_API symbols are exported
  VISIBILITY_INLINES_HIDDEN ON
  VERSION ${BLINDSIGHT_VERSION}
  SOVERSION 0
  PUBLIC_HEADER ${BLINDSIGHT_ROOT}/native/include/blindsight.h)
target_include_directories(blindsight PUBLIC
  $<BUILD_INTERFACE:${BLINDSIGHT_ROOT}/native/include> $<INSTALL_INTERFACE:include>)
target_compile_definitions(blindsight PRIVATE BLINDSIGHT_BUILDING BLINDSIGHT_VERSION_STRING="${BLINDSIGHT_VERSION}")
if(NOT MSVC)
  target_compile_options(blindsight PRIVATE -O3)
endif()
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  target_link_options(blindsight PRIVATE -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/libblindsight.map)
  set_property(TARGET blindsight APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/libblindsight.map)
endif()
find_package(Threads REQUIRED)
target_link_libraries(blindsight PRIVATE Threads::Threads)

if(BLINDSIGHT_CUDA)
  # blindsight_cuda_backend comes from cmake/cuda_addon.cmake (kernels generated per element type and head dim, static
  # CUDA runtime); the top-level CMakeLists.txt includes it, and it fails the configure when nvcc is missing.
  target_link_libraries(blindsight PRIVATE blindsight_cuda_backend)
  target_compile_definitions(blindsight PRIVATE BLINDSIGHT_WITH_CUDA)
endif()

include(GNUInstallDirs)
install(TARGETS blindsight
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
