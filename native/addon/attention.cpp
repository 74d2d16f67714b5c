#include "attention.h"

#include <memory>

#include "../core/error.h"
#include "../core/problem_checks.h"
#include "../cpu/cpu_backend.h"
#include "args.h"
#include "attention_args.h"
#include "js_errors.h"
#include "kv_pack_object.h"
#include "promise_worker.h"

namespace bs::addon {
namespace {

constexpr const char* kWhat = "the attention kernel";

struct Call : AttentionCall {
  int threads = 0;
  cpu::Isa isa = cpu::Isa::Generic;
  std::shared_ptr<cpu::KvPack> kvPack;  // optional (kv_pack_object.h)

  void run() {
    const cpu::CallStats s = cpu::attention(*plan, problem, threads, isa, kvPack.get());
    computedPairs = s.computedPairs;
    prepareMs = s.prepareMs;
    kernelMs = s.kernelMs;
  }
};

std::unique_ptr<Call> parse(const Napi::CallbackInfo& info, bool async) {
  Napi::Env env = info.Env();
  const Args a(env, info[0], "attention");
  const int64_t headDim = a.integer("headDim", 1, 1 << 16, ErrorCode::BAD_HEAD_DIM);
  codedChecks(env, [&] { checkAttentionHeadDim(headDim); });
  auto call = std::make_unique<Call>();
  parseAttentionCall(a, *call, async);
  call->threads = static_cast<int>(a.integerOr("threads", 0, 0, 1 << 16));
  if (a.has("kvPack")) call->kvPack = NativeKvPack::unwrap(env, a.get("kvPack"));
  const std::string isa = a.optionalString("isa");
  call->isa = runCoded(env, kWhat, [&] { return isa.empty() ? cpu::defaultIsa() : cpu::parseIsa(isa); });
  return call;
}

}  // namespace

Napi::Value AttentionSync(const Napi::CallbackInfo& info) {
  auto call = parse(info, false);
  runCoded(info.Env(), kWhat, [&] { call->run(); });
  return attentionResult(info.Env(), *call);
}

Napi::Value AttentionAsync(const Napi::CallbackInfo& info) {
  return PromiseWorker<Call>::queue(
      info.Env(), parse(info, true), kWhat, [](Call& c) { c.run(); },
      [](Napi::Env env, Call& c) { return attentionResult(env, c); });
}

}  // namespace bs::addon
