// Version and capability queries.
#include <string>

#include "../cpu/cpu_backend.h"
#include "guard.h"
#ifdef BLINDSIGHT_WITH_CUDA
#include "../cuda/host/cuda_backend.h"
#endif

#ifndef BLINDSIGHT_VERSION_STRING
#define BLINDSIGHT_VERSION_STRING "unknown"  // the build passes package.json's version
#endif

using namespace bs::capi;

extern "C" {

const char* blindsight_version(void) { return BLINDSIGHT_VERSION_STRING; }

int blindsight_abi_version(void) { return BLINDSIGHT_ABI_VERSION; }

const char* blindsight_cpu_isas(void) {
  // Built once: the CPU does not change under a running process, and the pointer must stay valid.
  static const std::string names = [] {
    std::string s;
    for (bs::cpu::Isa isa : bs::cpu::supportedIsas()) s += (s.empty() ? "" : ",") + std::string(bs::cpu::isaName(isa));
    return s;
  }();
  return names.c_str();
}

int blindsight_cuda_available(void) {
  bool ok = false;
  guarded([&] {
#ifdef BLINDSIGHT_WITH_CUDA
    std::string whyNot;
    ok = bs::cuda::available(&whyNot);
    if (!ok) throw bs::Error(bs::ErrorCode::CUDA_UNAVAILABLE, whyNot);
#else
    throw bs::Error(bs::ErrorCode::CUDA_UNAVAILABLE, "this libblindsight was built without the CUDA backend");
#endif
  });
  return ok ? 1 : 0;
}

}  // extern "C"
