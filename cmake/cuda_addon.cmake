# The CUDA build: the CUDA backend as a static library (blindsight_cuda_backend) and the CUDA-enabled N-API module
# built from it (blindsight_cuda.node). Included by the top-level CMakeLists.txt, which cmake-js drives
# (`npm run build:cuda`); `npm install` never comes here (it builds the CPU addon with node-gyp).
#
# Skipped, with a message and no error, when no CUDA compiler is found. Sets BLINDSIGHT_CUDA_FOUND so that other
# targets of the same build (the C library) can link blindsight_cuda_backend when it exists, or compile
# native/cuda/cuda_backend_stub.cpp when it does not.
#
# Architectures: 80, 86, 89 and 90 as machine code, plus PTX for 90 so newer GPUs can JIT it. Override with the
# CUDAARCHS environment variable (CMake's own, e.g. CUDAARCHS="86-real") or -DCMAKE_CUDA_ARCHITECTURES=...
# The CUDA runtime is linked statically, so the module loads (and reports "no driver / no device") on machines
# without a GPU or NVIDIA driver.

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  message(STATUS "blindsight: no CUDA compiler (nvcc) found; skipping the CUDA addon. "
                 "Put nvcc on PATH or set CUDACXX to build it.")
  set(BLINDSIGHT_CUDA_FOUND OFF)
  return()
endif()

if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES 80-real 86-real 89-real 90)
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
set(BLINDSIGHT_CUDA_FOUND ON)
message(STATUS "blindsight: CUDA ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}")

set(BS_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
set(BS_CUDA_DIR ${BS_ROOT}/native/cuda)

# One translation unit per (element type, head dim), generated from one template, so kernels compile in parallel.
set(BS_CUDA_GENERATED)
foreach(type_pair "bf16;__nv_bfloat16" "f16;__half" "f32;float")
  list(GET type_pair 0 type_name)
  list(GET type_pair 1 BS_ELEMENT_TYPE)
  foreach(BS_HEAD_DIM 64 80 96 128 256)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/generated/attention_${type_name}_hd${BS_HEAD_DIM}.cu)
    configure_file(${BS_CUDA_DIR}/instantiate.cu.in ${out} @ONLY)
    list(APPEND BS_CUDA_GENERATED ${out})
  endforeach()
endforeach()

set(BS_CORE_SOURCES ${BS_ROOT}/native/core/layout.cpp ${BS_ROOT}/native/core/plan.cpp)

add_library(blindsight_cuda_backend STATIC
  ${BS_CUDA_DIR}/cuda_backend.cu
  ${BS_CUDA_DIR}/device_plan.cu
  ${BS_CUDA_DIR}/plan_image.cpp
  ${BS_CUDA_DIR}/work_schedule.cpp
  ${BS_CUDA_DIR}/inspect.cpp
  ${BS_CUDA_GENERATED})
target_include_directories(blindsight_cuda_backend PRIVATE ${BS_CUDA_DIR})
target_compile_features(blindsight_cuda_backend PUBLIC cxx_std_20 cuda_std_17)
string(REPLACE ";" " " BS_ARCHS_TEXT "${CMAKE_CUDA_ARCHITECTURES}")
target_compile_definitions(blindsight_cuda_backend PRIVATE BLINDSIGHT_CUDA_ARCHS="${BS_ARCHS_TEXT}")
target_compile_options(blindsight_cuda_backend PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-fvisibility=hidden>
  $<$<COMPILE_LANGUAGE:CXX>:-fvisibility=hidden>)
set_target_properties(blindsight_cuda_backend PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  CUDA_RUNTIME_LIBRARY Static
  CUDA_SEPARABLE_COMPILATION OFF)
target_link_libraries(blindsight_cuda_backend PUBLIC CUDA::cudart_static)
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  # Test-only: the kernels' device code run on the CPU under a CTA emulator (fibers via ucontext), so the reference
  # tests exercise it on machines without a GPU.
  target_sources(blindsight_cuda_backend PRIVATE
    ${BS_CUDA_DIR}/emulation/cta_emulator.cpp
    ${BS_CUDA_DIR}/emulation/emulated_attention.cpp)
  target_compile_definitions(blindsight_cuda_backend INTERFACE BLINDSIGHT_CUDA_EMULATOR)
endif()

# The N-API module: the plan handle and argument glue shared with the CPU addon, the CUDA entry points, and the
# backend. Built only under cmake-js (it provides the Node-API headers).
if(CMAKE_JS_VERSION)
  add_library(blindsight_cuda_addon SHARED
    ${BS_CORE_SOURCES}
    ${BS_ROOT}/native/addon/plan_object.cpp
    ${BS_ROOT}/native/addon/cuda_attention.cpp
    ${BS_ROOT}/native/addon/cuda_module.cpp
    ${CMAKE_JS_SRC})
  target_include_directories(blindsight_cuda_addon PRIVATE ${CMAKE_JS_INC})
  target_compile_definitions(blindsight_cuda_addon PRIVATE
    NAPI_VERSION=8 NODE_ADDON_API_CPP_EXCEPTIONS NODE_ADDON_API_DISABLE_DEPRECATED BLINDSIGHT_WITH_CUDA)
  target_compile_features(blindsight_cuda_addon PRIVATE cxx_std_20)
  if(NOT MSVC)
    target_compile_options(blindsight_cuda_addon PRIVATE -O3 -fvisibility=hidden)
  endif()
  target_link_libraries(blindsight_cuda_addon PRIVATE blindsight_cuda_backend ${CMAKE_JS_LIB})
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    # Keep the static CUDA runtime's symbols private to the module.
    target_link_options(blindsight_cuda_addon PRIVATE "LINKER:--exclude-libs,ALL")
  endif()
  set_target_properties(blindsight_cuda_addon PROPERTIES PREFIX "" SUFFIX ".node" OUTPUT_NAME blindsight_cuda)
  if(MSVC AND CMAKE_JS_NODELIB_DEF AND CMAKE_JS_NODELIB_TARGET)
    execute_process(COMMAND ${CMAKE_AR} /def:${CMAKE_JS_NODELIB_DEF} /out:${CMAKE_JS_NODELIB_TARGET}
                            ${CMAKE_STATIC_LINKER_FLAGS})
  endif()
endif()
