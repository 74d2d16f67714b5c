// The memory of the tensors an attention call reads and writes.
//
// A JS typed array's memory can be released under a running asynchronous call: transferring (detaching) its
// ArrayBuffer, or shrinking a resizable one, frees or unmaps it while the kernel still reads or writes it, and
// Node-API offers no way to hold an ArrayBuffer's memory. So an asynchronous call only touches memory that cannot go
// away under it:
//  - inputs in ordinary ArrayBuffers are copied (on the calling thread) before the call is queued; SharedArrayBuffer-backed inputs, which can be neither detached nor shrunk, are read in place;
//  - outputs the caller did not pass are allocated here and given to JS as external ArrayBuffers, whose memory is
//    released only when both the call and JS are done with it (so even detaching them is harmless);
//  - outputs the caller passed in ordinary ArrayBuffers are computed into such memory and copied into the caller's
//    arrays when the call completes (a DETACHED_BUFFER error if the caller detached them meanwhile);
//    SharedArrayBuffer-backed outputs are written in place.
// Synchronous calls read and write the caller's arrays in place (nothing runs in JS meanwhile), and allocate the
// outputs the caller did not pass here too: recycled blocks spare each call the page faults of fresh memory.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../core/problem.h"
#include "args.h"

namespace bs::addon {

// 64-byte-aligned native memory, from a small process-wide pool of recently released blocks.
class NativeBlock {
 public:
  static std::shared_ptr<NativeBlock> acquire(size_t bytes);
  ~NativeBlock();
  NativeBlock(const NativeBlock&) = delete;
  NativeBlock& operator=(const NativeBlock&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  NativeBlock(void* data, size_t capacity, size_t bytes) : data_(data), capacity_(capacity), bytes_(bytes) {}
  void* data_;
  size_t capacity_;
  size_t bytes_;
};

// An element array of a call: where native code reads or writes it, and what backs it.
struct TensorRef {
  void* data = nullptr;
  size_t length = 0;       // elements
  size_t elementBytes = 4;
  std::shared_ptr<NativeBlock> owned;  // native memory used instead of (or as) the JS array
  Napi::Reference<Napi::Value> js;     // the JS typed array (the caller's, or the one made over `owned`)
  bool copyBack = false;               // owned stands in for the caller's array: copy into it on completion
  size_t bytes() const { return length * elementBytes; }
};

// f32 tensors travel as Float32Array, f16 and bf16 as Uint16Array holding the raw bits. A typed array of the wrong
// kind is BAD_ARGUMENT.
struct ElementView {
  void* data;
  size_t length;
  bool shared;  // backed by a SharedArrayBuffer
  Napi::Value value;
};
ElementView elementView(const Args& a, const char* name, DType type);

// An input: in place, or (async and not shared) a native copy.
TensorRef stageInput(const Args& a, const char* name, DType type, size_t expected, bool async);
// An output of `expected` elements: the caller's array when the field is present (in place, or staged for an async
// call), else a native one made here. `dtype` sets the JS array type of a native one (Float32Array or Uint16Array).
TensorRef stageOutput(const Args& a, const char* name, DType type, size_t expected, bool async, ErrorCode shapeCode);
// On the JS thread after the work: copies staged outputs into the caller's arrays; returns the JS array to hand
// back. Throws DETACHED_BUFFER (as a JS error) when the caller's array no longer has its memory.
Napi::Value finishOutput(Napi::Env env, TensorRef& t, const char* name);

}  // namespace bs::addon
