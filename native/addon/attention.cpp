#include "attention.h"

#include <memory>

#include "../core/error.h"
#include "../cpu/cpu_backend.h"
#include "args.h"
#include "attention_args.h"
#include "js_errors.h"
#include "promise_worker.h"

namespace bs::addon {
namespace {

constexpr const char* kWhat = "the attention kernel";

struct Call : AttentionCall {
  int threads = 0;
  cpu::Isa isa = cpu::Isa::Generic;

  void run() const { cpu::attention(*plan, problem, threads, isa); }
};

// Arguments 0..10 as attention_args.h, 11 threads, 12 isa | null, 13 inputType, 14 outputType.
std::unique_ptr<Call> parse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 15) throwCoded(env, ErrorCode::BAD_ARGUMENT, "attention expects 15 arguments");
  auto call = std::make_unique<Call>();
  parseAttentionCall(info, 13, *call);
  const int32_t d = call->problem.headDim;
  if (d < 8 || d > 512 || d % 8 != 0) throwCoded(env, ErrorCode::BAD_HEAD_DIM, "headDim must be a multiple of 8 in [8, 512]");
  call->threads = static_cast<int>(intArg(info, 11, "threads", 0, 1 << 16));
  call->isa = runCoded(env, kWhat, [&] {
    return info[12].IsString() ? cpu::parseIsa(info[12].As<Napi::String>().Utf8Value()) : cpu::defaultIsa();
  });
  return call;
}

}  // namespace

Napi::Value AttentionSync(const Napi::CallbackInfo& info) {
  auto call = parse(info);
  runCoded(info.Env(), kWhat, [&] { call->run(); });
  return info.Env().Undefined();
}

Napi::Value AttentionAsync(const Napi::CallbackInfo& info) {
  return PromiseWorker<Call>::queue(info.Env(), parse(info), kWhat, [](Call& c) { c.run(); });
}

}  // namespace bs::addon
