#include "tensor_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>


#include "../cpu/aligned_memory.h"
#include "js_errors.h"

namespace bs::addon {
namespace {

constexpr size_t kPage = 4096;
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

// Plain pages: asking for transparent huge pages (MADV_HUGEPAGE) made the first touch of a fresh 58 MB output cost
// 0.9-1.3 s on the development VM (a sink call's kernel phase 1.1 s against 0.14 s without), far more than the TLB
// gain on later reuse (0.09 against 0.14 s), and a fresh block is the common case while JS still holds the last one.
void* allocate(size_t capacity) {
  const size_t align = capacity >= kPage ? kPage : 64;
  void* p = cpu::alignedAlloc(align, capacity);
  if (!p) throw std::bad_alloc();
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

namespace {

// The caller's array `name` as a call's tensor of `elements` elements: exactly that many, or (strided) at least.
ElementView checkedView(const Args& a, const char* name, DType type, size_t elements, bool strided,
                        ErrorCode code = ErrorCode::SHAPE_MISMATCH) {
  const ElementView e = elementView(a, name, type);
  if (strided ? e.length < elements : e.length != elements)
    a.fail(code, name,
           "has " + std::to_string(e.length) + " elements; " + (strided ? "its strides reach " : "the plan and head shape need ") +
               std::to_string(elements));
  return e;
}

// A reference to a checked array, which keeps it alive for the call.
TensorRef referenceTo(const ElementView& e, DType type, size_t elements) {
  TensorRef t;
  t.length = elements;
  t.elementBytes = elementBytes(type);
  t.js = Napi::Persistent(e.value);
  return t;
}

TensorRef inputOf(const Args& a, const char* name, DType type, size_t elements, bool strided, bool async) {
  const ElementView e = checkedView(a, name, type, elements, strided);
  TensorRef t = referenceTo(e, type, elements);
  if (async && !e.shared && t.bytes() > 0) {
    t.owned = NativeBlock::acquire(t.bytes());
    copy(t.owned->data(), e.data, t.bytes());
    t.data = t.owned->data();
  } else {
    t.data = e.data;
  }
  return t;
}

// The caller's output array: in place, or (async and not shared) native memory copied into it on completion.
TensorRef callerOutput(const Args& a, const char* name, DType type, size_t elements, bool strided, bool async,
                       ErrorCode code = ErrorCode::SHAPE_MISMATCH) {
  const ElementView e = checkedView(a, name, type, elements, strided, code);
  TensorRef t = referenceTo(e, type, elements);
  if (async && !e.shared && t.bytes() > 0) {
    t.owned = NativeBlock::acquire(t.bytes());
    t.data = t.owned->data();
    t.copyBack = true;
  } else {
    t.data = e.data;
  }
  return t;
}

}  // namespace

TensorRef stageInput(const Args& a, const char* name, DType type, size_t expected, bool async) {
  return inputOf(a, name, type, expected, false, async);
}

TensorRef stageStridedInput(const Args& a, const char* name, DType type, size_t extent, bool async) {
  return inputOf(a, name, type, extent, true, async);
}

TensorRef stageStridedOutput(const Args& a, const char* name, DType type, size_t extent, const OutputRuns& runs,
                             bool async) {
  TensorRef t = callerOutput(a, name, type, extent, true, async);
  t.strided = true;
  t.runs = runs;
  return t;
}

TensorRef stageOutput(const Args& a, const char* name, DType type, size_t expected, bool async, ErrorCode shapeCode) {
  if (a.has(name)) return callerOutput(a, name, type, expected, false, async, shapeCode);
  TensorRef t;
  t.length = expected;
  t.elementBytes = elementBytes(type);
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
    if (napi_get_typedarray_info(env, js, &type, &length, &data, nullptr, nullptr) != napi_ok ||
        (t.strided ? length < t.length : length != t.length) || data == nullptr)
      throwCoded(env, ErrorCode::DETACHED_BUFFER,
                 std::string(name) + " was detached or resized while the asynchronous call ran; its result is lost");
    if (!t.strided) {
      copy(data, t.owned->data(), t.bytes());
    } else {
      const OutputRuns& r = t.runs;
      const size_t es = t.elementBytes, run = static_cast<size_t>(r.headDim) * es;
      for (int64_t row = 0; row < r.rows; ++row)
        for (int64_t h = 0; h < r.heads; ++h) {
          const size_t at = static_cast<size_t>(row * r.strides.token + h * r.strides.head) * es;
          copy(static_cast<uint8_t*>(data) + at, static_cast<const uint8_t*>(t.owned->data()) + at, run);
        }
    }
  }
  return js;
}

}  // namespace bs::addon
