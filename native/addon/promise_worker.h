// The shared shape of every entry point: run native work, turn bs::Error / bad_alloc into coded JS errors.
// Synchronous calls use runCoded; asynchronous ones queue a PromiseWorker, which runs the call on a libuv worker,
// resolves the promise with the call's JS result (or undefined) and releases the call, with the JS arrays it pins,
// on the JS thread.
#pragma once
#include <napi.h>

#include <memory>
#include <new>
#include <string>

#include "../core/error.h"
#include "js_errors.h"

namespace bs::addon {

template <typename Fn>
decltype(auto) runCoded(Napi::Env env, const char* what, Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    throwCoded(env, e.codeId(), e.what());
  } catch (const std::bad_alloc&) {
    throwCoded(env, ErrorCode::OUT_OF_MEMORY, std::string("out of memory in ") + what);
  }
}

template <typename Call>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Run = void (*)(Call&);
  using ToJs = Napi::Value (*)(Napi::Env, Call&);

  static Napi::Promise queue(Napi::Env env, std::unique_ptr<Call> call, const char* what, Run run,
                             ToJs toJs = nullptr) {
    auto* worker = new PromiseWorker(env, std::move(call), what, run, toJs);
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 private:
  PromiseWorker(Napi::Env env, std::unique_ptr<Call> call, const char* what, Run run, ToJs toJs)
      : Napi::AsyncWorker(env), call_(std::move(call)), deferred_(Napi::Promise::Deferred::New(env)), what_(what),
        run_(run), toJs_(toJs) {}

  void Execute() override {
    try {
      run_(*call_);
    } catch (const Error& e) {
      code_ = e.codeId();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = ErrorCode::OUT_OF_MEMORY;
      SetError(std::string("out of memory in ") + what_);
    } catch (const std::exception& e) {
      code_ = ErrorCode::INTERNAL;
      SetError(std::string("internal error in ") + what_ + ": " + e.what());
    }
  }
  // Both run on the JS thread when the work is done. If the environment is being torn down meanwhile (a worker
  // thread terminated, or process.exit() in it, while the promise was pending), every JS call fails and node-addon-api
  // throws: nobody is left to see the promise, so that is swallowed rather than let it terminate the process.
  void OnOK() override {
    try {
      Napi::Value result = toJs_ ? toJs_(Env(), *call_) : Env().Undefined();
      call_.reset();
      deferred_.Resolve(result);
    } catch (const Napi::Error& e) {
      call_.reset();
      settleRejected(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    call_.reset();
    try {
      deferred_.Reject(codedError(Env(), code_, e.Message()).Value());
    } catch (const Napi::Error&) {
    }
  }
  // A result that could not be delivered (e.g. an output detached meanwhile) rejects the promise with its error.
  void settleRejected(Napi::Value error) {
    try {
      deferred_.Reject(error);
    } catch (const Napi::Error&) {
    }
  }

  std::unique_ptr<Call> call_;
  Napi::Promise::Deferred deferred_;
  const char* what_;
  Run run_;
  ToJs toJs_;
  ErrorCode code_ = ErrorCode::INTERNAL;
};

}  // namespace bs::addon
