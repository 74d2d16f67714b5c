#include "tensor_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "../cpu/aligned_memory.h"
#include "js_errors.h"

namespace bs::addon {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
// Released blocks kept for reuse: a few, up to this much memory in all (a prompt's layers reuse one output size).
constexpr size_t kPoolBlocks = 4;
constexpr size_t kPoolBytes = size_t{1} << 30;

struct FreeBlock {
  void* data;
  size_t capacity;
};

struct Pool {
  std::mutex m;
  std::vector<FreeBlock> free;
  size_t bytes = 0;
};
Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: blocks may come back from other threads at exit
  return *p;
}

void* allocate(size_t capacity) {
  const size_t align = capacity >= kHugePage ? kHugePage : 64;
  void* p = cpu::alignedAlloc(align, capacity);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Large outputs are written once per call: huge pages cut the page-table work of touching them.
  if (capacity >= kHugePage) madvise(p, capacity, MADV_HUGEPAGE);
#endif
  return p;
}

// On the JS thread, with no help from the kernel pool: a pool job may be running another call, and waiting for it
// would block the event loop.
void copy(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

size_t elementBytes(DType t) { return t == DType::F32 ? 4 : 2; }

// A JS typed array over a native block: an external ArrayBuffer whose finalizer drops JS's share of the block, with
// the memory reported to V8 so that its garbage collector sees what these arrays hold.
Napi::Value jsArrayOver(Napi::Env env, const std::shared_ptr<NativeBlock>& block, DType type, size_t length) {
  auto* share = new std::shared_ptr<NativeBlock>(block);
  const size_t bytes = block->bytes();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, block->data(), bytes,
      [](Napi::Env finalizeEnv, void*, std::shared_ptr<NativeBlock>* s) {
        int64_t adjusted = 0;
        napi_adjust_external_memory(finalizeEnv, -static_cast<int64_t>((*s)->bytes()), &adjusted);
        delete s;
      },
      share);
  int64_t adjusted = 0;
  napi_adjust_external_memory(env, static_cast<int64_t>(bytes), &adjusted);
  if (type == DType::F32) return Napi::Float32Array::New(env, length, buffer, 0);
  return Napi::Uint16Array::New(env, length, buffer, 0);
}

}  // namespace

std::shared_ptr<NativeBlock> NativeBlock::acquire(size_t bytes) {
  bytes = std::max<size_t>(bytes, 1);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lk(p.m);
    // The smallest free block that holds `bytes` without wasting more than half of itself.
    auto best = p.free.end();
    for (auto it = p.free.begin(); it != p.free.end(); ++it)
      if (it->capacity >= bytes && it->capacity / 2 <= bytes && (best == p.free.end() || it->capacity < best->capacity))
        best = it;
    if (best != p.free.end()) {
      const FreeBlock b = *best;
      p.free.erase(best);
      p.bytes -= b.capacity;
      return std::shared_ptr<NativeBlock>(new NativeBlock(b.data, b.capacity, bytes));
    }
  }
  return std::shared_ptr<NativeBlock>(new NativeBlock(allocate(bytes), bytes, bytes));
}

NativeBlock::~NativeBlock() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lk(p.m);
  if (capacity_ <= kPoolBytes) {
    while (!p.free.empty() && (p.free.size() >= kPoolBlocks || p.bytes + capacity_ > kPoolBytes)) {
      cpu::alignedFree(p.free.front().data);  // the oldest goes first
      p.bytes -= p.free.front().capacity;
      p.free.erase(p.free.begin());
    }
    p.free.push_back({data_, capacity_});
    p.bytes += capacity_;
    return;
  }
  cpu::alignedFree(data_);
}

ElementView elementView(const Args& a, const char* name, DType type) {
  const Napi::Value v = a.get(name);
  const napi_typedarray_type want = type == DType::F32 ? napi_float32_array : napi_uint16_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    a.fail(ErrorCode::BAD_ARGUMENT, name, type == DType::F32 ? "must be a Float32Array" : "must be a Uint16Array (f16/bf16 bits)");
  napi_env env = a.env();
  napi_typedarray_type t;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &t, &length, &data, &buffer, &offset) != napi_ok)
    a.fail(ErrorCode::BAD_ARGUMENT, name, "could not be read as a typed array");
  bool isArrayBuffer = false;
  napi_is_arraybuffer(env, buffer, &isArrayBuffer);  // false for a SharedArrayBuffer
  return {data, length, !isArrayBuffer, v};
}

TensorRef stageInput(const Args& a, const char* name, DType type, size_t expected, bool async) {
  const ElementView e = elementView(a, name, type);
  if (e.length != expected)
    a.fail(ErrorCode::SHAPE_MISMATCH, name, "has " + std::to_string(e.length) + " elements; the plan and head shape need " +
                                                std::to_string(expected));
  TensorRef t;
  t.length = e.length;
  t.elementBytes = elementBytes(type);
  t.js = Napi::Persistent(e.value);
  if (async && !e.shared && t.bytes() > 0) {
    t.owned = NativeBlock::acquire(t.bytes());
    copy(t.owned->data(), e.data, t.bytes());
    t.data = t.owned->data();
  } else {
    t.data = e.data;
  }
  return t;
}

TensorRef stageOutput(const Args& a, const char* name, DType type, size_t expected, bool async, ErrorCode shapeCode) {
  TensorRef t;
  t.length = expected;
  t.elementBytes = elementBytes(type);
  if (a.has(name)) {
    const ElementView e = elementView(a, name, type);
    if (e.length != expected)
      a.fail(shapeCode, name, "has " + std::to_string(e.length) + " elements; the plan and head shape need " +
                                  std::to_string(expected));
    t.js = Napi::Persistent(e.value);
    if (async && !e.shared) {
      t.owned = NativeBlock::acquire(t.bytes());
      t.data = t.owned->data();
      t.copyBack = true;
    } else {
      t.data = e.data;
    }
    return t;
  }
  t.owned = NativeBlock::acquire(t.bytes());
  t.data = t.owned->data();
  t.js = Napi::Persistent(jsArrayOver(a.env(), t.owned, type, expected));
  return t;
}

Napi::Value finishOutput(Napi::Env env, TensorRef& t, const char* name) {
  Napi::Value js = t.js.Value();
  if (t.copyBack) {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, js, &type, &length, &data, nullptr, nullptr) != napi_ok || length != t.length ||
        data == nullptr)
      throwCoded(env, ErrorCode::DETACHED_BUFFER,
                 std::string(name) + " was detached or resized while the asynchronous call ran; its result is lost");
    copy(data, t.owned->data(), t.bytes());
  }
  return js;
}

}  // namespace bs::addon
