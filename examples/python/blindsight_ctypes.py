#!/usr/bin/env python3
"""Calling blindsight's C ABI from a Python inference runtime's attention hook, with the standard library only.

The runtime keeps its own activations; blindsight reads q, k, v and writes the output in place, with no copies.
Buffers may be array.array('f'), bytearray, mmap, numpy arrays (float32, C-contiguous), torch CPU tensors (through
their data_ptr()), or raw addresses (int). The demo runs a layer four ways: the whole prompt in one call; in
micro-batches of queries against a growing head-major KV cache read in place (as llama.cpp prefills in n_ubatch
steps); the same against a token-major cache, with a KvPack keeping the kernel's copy of it from call to call; and
as a two-shard ring step, whose partial results blindsight_merge_attention combines.

    cmake -S . -B build-capi && cmake --build build-capi -j
    python3 examples/python/blindsight_ctypes.py     # a 2-layer demo, checked against a float64 reference
    python3 examples/python/calibrate_ctypes.py      # calibrating a policy from the runtime's own prefill

PromptAttention(..., calibrator=Calibrator(...)) is the hook's calibration mode: every head dense, every layer observed.

The library is found through BLINDSIGHT_LIBRARY (a path), then build-capi/ of this checkout, then the system's
library path.
"""
import array
import ctypes
import ctypes.util
import json
import math
import os
import random
import sys

ABI_VERSION = 3  # BLINDSIGHT_ABI_VERSION of the header these declarations mirror
CATEGORIES = {"dense": 0, "sink": 1, "intra-image": 2, "intra-image+sink": 3}
TEXT, IMAGE = 0, 1
F32 = 0


class Segment(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("length", ctypes.c_int32)]


class PlanOptions(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in
                ("text_keys", "bidirectional_images", "window", "block_m", "block_n", "exhaustive", "window_keeps_sinks")]


class Strides(ctypes.Structure):
    _fields_ = [("token", ctypes.c_int64), ("head", ctypes.c_int64)]


class CategoryStats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in
                ("visible_pairs", "full_blocks", "partial_blocks", "skipped_blocks", "gathered_keys", "computed_pairs")]


class PlanStats(ctypes.Structure):
    _fields_ = [("num_tokens", ctypes.c_int32), ("num_query_blocks", ctypes.c_int32), ("bytes", ctypes.c_int64),
                ("dense_causal_pairs", ctypes.c_int64), ("grid_blocks", ctypes.c_int64),
                ("causal_blocks", ctypes.c_int64), ("category", CategoryStats * 4)]


class AttentionArgs(ctypes.Structure):
    _fields_ = [("q", ctypes.c_void_p), ("k", ctypes.c_void_p), ("v", ctypes.c_void_p), ("out", ctypes.c_void_p),
                ("lse", ctypes.c_void_p), ("heads", ctypes.POINTER(ctypes.c_uint8)), ("num_heads", ctypes.c_int32),
                ("num_kv_heads", ctypes.c_int32), ("head_dim", ctypes.c_int32), ("scale", ctypes.c_float),
                ("input_dtype", ctypes.c_int32), ("output_dtype", ctypes.c_int32), ("threads", ctypes.c_int32),
                ("isa", ctypes.c_char_p), ("query_ranges", ctypes.POINTER(ctypes.c_int32)),
                ("key_ranges", ctypes.POINTER(ctypes.c_int32)), ("q_strides", Strides), ("k_strides", Strides),
                ("v_strides", Strides), ("out_strides", Strides), ("computed_pairs", ctypes.POINTER(ctypes.c_int64)),
                ("kv_pack", ctypes.c_void_p)]


class Partial(ctypes.Structure):
    _fields_ = [("out", ctypes.c_void_p), ("lse", ctypes.c_void_p)]


class MergeArgs(ctypes.Structure):
    _fields_ = [("partials", ctypes.POINTER(Partial)), ("num_partials", ctypes.c_int32), ("rows", ctypes.c_int64),
                ("num_heads", ctypes.c_int32), ("head_dim", ctypes.c_int32), ("input_dtype", ctypes.c_int32),
                ("output_dtype", ctypes.c_int32), ("out", ctypes.c_void_p), ("lse", ctypes.c_void_p),
                ("threads", ctypes.c_int32)]


class CalibratorOptions(ctypes.Structure):
    _fields_ = [("num_layers", ctypes.c_int32), ("num_heads", ctypes.c_int32), ("num_kv_heads", ctypes.c_int32),
                ("head_dim", ctypes.c_int32), ("text_keys", ctypes.c_int32), ("bidirectional_images", ctypes.c_int32),
                ("window", ctypes.c_int32), ("scale", ctypes.c_float), ("output_error", ctypes.c_int32)]


class Thresholds(ctypes.Structure):
    _fields_ = [("tau", ctypes.c_double), ("worst_tau", ctypes.c_double), ("text_keys", ctypes.c_int32),
                ("pin_first", ctypes.c_int32), ("pin_last", ctypes.c_int32),
                ("pin_layers", ctypes.POINTER(ctypes.c_int32)), ("num_pin_layers", ctypes.c_int32)]


class BlindsightError(RuntimeError):
    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def load_library(path=None):
    """Opens libblindsight, declares its functions and checks that its ABI is the one declared here."""
    here = os.path.dirname(os.path.abspath(__file__))
    paths = [path, os.environ.get("BLINDSIGHT_LIBRARY"),
             os.path.join(here, "..", "..", "build-capi", "libblindsight.so"),
             os.path.join(here, "..", "..", "build-capi", "libblindsight.dylib")]
    found = next((p for p in paths if p and os.path.exists(p)), None) or ctypes.util.find_library("blindsight")
    if not found:
        raise OSError("libblindsight not found: build it (cmake -S . -B build-capi && cmake --build build-capi) "
                      "or set BLINDSIGHT_LIBRARY")
    lib = ctypes.CDLL(found)
    P, I32, St = ctypes.POINTER, ctypes.c_int32, ctypes.c_int
    for name, res, args in [
        ("blindsight_version", ctypes.c_char_p, []),
        ("blindsight_abi_version", ctypes.c_int, []),
        ("blindsight_cpu_isas", ctypes.c_char_p, []),
        ("blindsight_last_error", ctypes.c_char_p, []),
        ("blindsight_status_name", ctypes.c_char_p, [St]),
        ("blindsight_layout_create", St, [P(I32), I32, P(I32), P(ctypes.c_uint8), I32, P(ctypes.c_void_p)]),
        ("blindsight_layout_from_segments", St, [P(Segment), P(I32), I32, I32, P(ctypes.c_void_p)]),
        ("blindsight_layout_num_tokens", I32, [ctypes.c_void_p]),
        ("blindsight_layout_destroy", None, [ctypes.c_void_p]),
        ("blindsight_plan_options_init", None, [P(PlanOptions)]),
        ("blindsight_plan_create", St, [ctypes.c_void_p, P(PlanOptions), P(ctypes.c_void_p)]),
        ("blindsight_plan_destroy", None, [ctypes.c_void_p]),
        ("blindsight_plan_get_stats", St, [ctypes.c_void_p, P(PlanStats)]),
        ("blindsight_attention_args_init", None, [P(AttentionArgs)]),
        ("blindsight_attention", St, [ctypes.c_void_p, P(AttentionArgs)]),
        ("blindsight_merge_attention", St, [P(MergeArgs)]),
        ("blindsight_kv_pack_create", St, [P(ctypes.c_void_p)]),
        ("blindsight_kv_pack_reset", St, [ctypes.c_void_p]),
        ("blindsight_kv_pack_destroy", None, [ctypes.c_void_p]),
        ("blindsight_calibrator_options_init", None, [P(CalibratorOptions)]),
        ("blindsight_calibrator_create", St, [P(CalibratorOptions), P(ctypes.c_void_p)]),
        ("blindsight_calibrator_destroy", None, [ctypes.c_void_p]),
        ("blindsight_attention_observe", St, [ctypes.c_void_p, P(AttentionArgs), ctypes.c_void_p, I32]),
        ("blindsight_thresholds_init", None, [P(Thresholds)]),
        ("blindsight_calibrator_policy", St, [ctypes.c_void_p, P(Thresholds), P(ctypes.c_uint8)]),
        ("blindsight_calibrator_policy_json", St, [ctypes.c_void_p, P(Thresholds), ctypes.c_char_p, ctypes.c_char_p,
                                                   ctypes.c_size_t, P(ctypes.c_size_t)]),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    if lib.blindsight_abi_version() != ABI_VERSION:
        raise OSError(f"{found} has ABI {lib.blindsight_abi_version()}; this module declares ABI {ABI_VERSION}")
    return lib


def _check(lib, status):
    if status != 0:
        raise BlindsightError(lib.blindsight_status_name(status).decode(), lib.blindsight_last_error().decode())


def _address(buf, nbytes, name, keep):
    """The address of a float32 buffer the runtime owns, checked for size where Python can tell."""
    if isinstance(buf, int):
        return buf
    if hasattr(buf, "data_ptr"):  # torch tensor (CPU, float32, contiguous)
        return buf.data_ptr()
    if hasattr(buf, "__array_interface__"):  # numpy
        return buf.__array_interface__["data"][0]
    view = memoryview(buf).cast("B")
    if view.nbytes < nbytes:
        raise ValueError(f"{name} holds {view.nbytes} bytes; this call needs {nbytes}")
    if view.readonly:
        raise ValueError(f"{name} must be a writable buffer (ctypes takes addresses of writable buffers only)")
    holder = ctypes.c_char.from_buffer(view)
    keep.append(holder)
    return ctypes.addressof(holder)


class Calibrator:
    """A model's streaming calibrator: PromptAttention(..., calibrator=...) observes every layer of every sample prompt
    while the model runs; policy() then gives each layer's head categories."""

    def __init__(self, lib, num_layers, num_heads, num_kv_heads, head_dim, scale=0.0, text_keys=True,
                 bidirectional_images=False, window=0, output_error=False):
        self.lib, self.num_layers, self.num_heads = lib, num_layers, num_heads
        options = CalibratorOptions()
        lib.blindsight_calibrator_options_init(ctypes.byref(options))
        options.num_layers, options.num_heads, options.num_kv_heads, options.head_dim = (num_layers, num_heads,
                                                                                       num_kv_heads, head_dim)
        options.text_keys, options.bidirectional_images, options.window = int(text_keys), int(bidirectional_images), window
        options.scale, options.output_error = scale, int(output_error)
        self._handle = ctypes.c_void_p()
        _check(lib, lib.blindsight_calibrator_create(ctypes.byref(options), ctypes.byref(self._handle)))

    def _thresholds(self, tau, worst_tau, pin_first, pin_last, pin_layers):
        t = Thresholds()
        self.lib.blindsight_thresholds_init(ctypes.byref(t))
        t.tau, t.pin_first, t.pin_last = tau, pin_first, pin_last
        if worst_tau is not None:
            t.worst_tau = worst_tau
        layers = (ctypes.c_int32 * len(pin_layers))(*pin_layers)
        t.pin_layers, t.num_pin_layers = ctypes.cast(layers, ctypes.POINTER(ctypes.c_int32)), len(pin_layers)
        return t, layers

    def policy(self, tau=0.95, worst_tau=None, pin_first=0, pin_last=0, pin_layers=()):
        """The policy of the observations so far: a list per layer of category names."""
        t, keep = self._thresholds(tau, worst_tau, pin_first, pin_last, pin_layers)
        out = (ctypes.c_uint8 * (self.num_layers * self.num_heads))()
        _check(self.lib, self.lib.blindsight_calibrator_policy(self._handle, ctypes.byref(t), out))
        names = {v: k for k, v in CATEGORIES.items()}
        return [[names[out[l * self.num_heads + h]] for h in range(self.num_heads)] for l in range(self.num_layers)]

    def policy_json(self, tau=0.95, worst_tau=None, pin_first=0, pin_last=0, pin_layers=(), model=None):
        """The same policy as the npm package's HeadPolicy JSON, statistics included (blindsight rethreshold reads it)."""
        t, keep = self._thresholds(tau, worst_tau, pin_first, pin_last, pin_layers)
        size, model = ctypes.c_size_t(), None if model is None else model.encode()
        _check(self.lib, self.lib.blindsight_calibrator_policy_json(self._handle, ctypes.byref(t), model, None, 0,
                                                                    ctypes.byref(size)))
        buffer = ctypes.create_string_buffer(size.value + 1)
        _check(self.lib, self.lib.blindsight_calibrator_policy_json(self._handle, ctypes.byref(t), model, buffer,
                                                                    size.value + 1, ctypes.byref(size)))
        return buffer.value.decode()

    def close(self):
        if self._handle:
            self.lib.blindsight_calibrator_destroy(self._handle)
            self._handle = ctypes.c_void_p()

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KvPack:
    """One layer's K/V copy kept between micro-batches against a token-major cache (blindsight_kv_pack_create): each
    key row is copied once instead of on every call that reads it. The cache's rows must not change while it is kept;
    reset() for the next prompt."""

    def __init__(self, lib):
        self.lib, self.handle = lib, ctypes.c_void_p()
        _check(lib, lib.blindsight_kv_pack_create(ctypes.byref(self.handle)))

    def reset(self):
        _check(self.lib, self.lib.blindsight_kv_pack_reset(self.handle))

    def close(self):
        if self.handle:
            self.lib.blindsight_kv_pack_destroy(self.handle)
            self.handle = ctypes.c_void_p()

    __del__ = close


class PromptAttention:
    """Built once per prompt from its segments and the model's head policy; forward(layer, ...) in each layer. With
    calibrator= instead of a policy, every head runs dense and every forward is observed (the calibration loop)."""

    def __init__(self, lib, sequences, policy, num_heads, num_kv_heads, head_dim, global_sinks=1, text_keys=True,
                 bidirectional_images=False, window=0, calibrator=None, scale=0.0):
        self.lib, self.num_heads, self.num_kv_heads, self.head_dim = lib, num_heads, num_kv_heads, head_dim
        self.calibrator, self.scale = calibrator, scale
        if calibrator is not None:
            policy = [["dense"] * num_heads for _ in range(calibrator.num_layers)]
        segments = [Segment(kind, length) for seq in sequences for kind, length in seq]
        per_sequence = (ctypes.c_int32 * len(sequences))(*[len(seq) for seq in sequences])
        layout, self._plan = ctypes.c_void_p(), ctypes.c_void_p()
        _check(lib, lib.blindsight_layout_from_segments((Segment * len(segments))(*segments), per_sequence,
                                                         len(sequences), global_sinks, ctypes.byref(layout)))
        try:
            self.num_tokens = lib.blindsight_layout_num_tokens(layout)
            options = PlanOptions()
            lib.blindsight_plan_options_init(ctypes.byref(options))
            options.text_keys, options.bidirectional_images, options.window = int(text_keys), int(bidirectional_images), window
            _check(lib, lib.blindsight_plan_create(layout, ctypes.byref(options), ctypes.byref(self._plan)))
        finally:
            lib.blindsight_layout_destroy(layout)  # the plan keeps what it needs
        self._heads = [(ctypes.c_uint8 * num_heads)(*[CATEGORIES[c] for c in layer]) for layer in policy]
        self.cu_seqlens = [0]
        for seq in sequences:
            self.cu_seqlens.append(self.cu_seqlens[-1] + sum(length for _, length in seq))
        self.stats = PlanStats()
        _check(lib, lib.blindsight_plan_get_stats(self._plan, ctypes.byref(self.stats)))

    def per_sequence(self, begin, end):
        """A [begin, end) range of the packed layout as the C ABI's begin, end per sequence (each sequence's part)."""
        ranges = []
        for s0, s1 in zip(self.cu_seqlens, self.cu_seqlens[1:]):
            b = min(max(begin, s0), s1)
            ranges += [b, max(b, min(end, s1))]
        return (ctypes.c_int32 * len(ranges))(*ranges), sum(e - b for b, e in zip(ranges[::2], ranges[1::2]))

    def forward(self, layer, q, k, v, out, lse=None, queries=None, keys=None, kv_strides=None, kv_pack=None):
        """Layer `layer`'s attention. q, out [query rows, num_heads, head_dim]; k, v [key rows, num_kv_heads, head_dim]
        (or at kv_strides = (token, head), in elements). queries / keys: (begin, end) token ranges of the packed
        layout (default: every token); q, out and lse hold the query tokens' rows, k and v the key tokens' rows.
        kv_pack: this layer's KvPack, for micro-batches against a token-major cache."""
        h, kvh, d, keep = self.num_heads, self.num_kv_heads, self.head_dim, []
        args = AttentionArgs()
        self.lib.blindsight_attention_args_init(ctypes.byref(args))
        q_rows = k_rows = self.num_tokens
        if queries is not None:
            args.query_ranges, q_rows = self.per_sequence(*queries)
            keep.append(args.query_ranges)
        if keys is not None:
            args.key_ranges, k_rows = self.per_sequence(*keys)
            keep.append(args.key_ranges)
        kv_span = k_rows * kvh * d
        if kv_strides is not None:
            args.k_strides = args.v_strides = Strides(*kv_strides)
            kv_span = (k_rows - 1) * kv_strides[0] + (kvh - 1) * kv_strides[1] + d if k_rows else 0
        args.q, args.out = _address(q, 4 * q_rows * h * d, "q", keep), _address(out, 4 * q_rows * h * d, "out", keep)
        args.k, args.v = _address(k, 4 * kv_span, "k", keep), _address(v, 4 * kv_span, "v", keep)
        args.lse = None if lse is None else _address(lse, 4 * q_rows * h, "lse", keep)
        args.heads, args.num_heads, args.num_kv_heads, args.head_dim = self._heads[layer], h, kvh, d
        args.input_dtype = args.output_dtype = F32
        args.scale = self.scale
        if kv_pack is not None:
            args.kv_pack = kv_pack.handle
        if self.calibrator is not None:
            _check(self.lib, self.lib.blindsight_attention_observe(self._plan, ctypes.byref(args),
                                                                   self.calibrator._handle, layer))
        else:
            _check(self.lib, self.lib.blindsight_attention(self._plan, ctypes.byref(args)))
        return out

    def merge(self, partials, out, lse=None):
        """Combines (out, lse) partial results over disjoint key ranges of the same rows into out (and lse)."""
        keep = []
        rows = self.num_tokens
        size = 4 * rows * self.num_heads * self.head_dim
        parts = (Partial * len(partials))(*[Partial(_address(o, size, "out", keep), _address(l, 4 * rows * self.num_heads, "lse", keep))
                                             for o, l in partials])
        args = MergeArgs(parts, len(partials), rows, self.num_heads, self.head_dim, F32, F32, _address(out, size, "out", keep),
                         None if lse is None else _address(lse, 4 * rows * self.num_heads, "lse", keep), 0)
        _check(self.lib, self.lib.blindsight_merge_attention(ctypes.byref(args)))
        return out

    def kept_ratio(self, layer):
        """Fraction of dense causal attention FLOPs this layer's heads keep."""
        visible = sum(self.stats.category[c].visible_pairs for c in self._heads[layer])
        return visible / (self.num_heads * self.stats.dense_causal_pairs)

    def close(self):
        if self._plan:
            self.lib.blindsight_plan_destroy(self._plan)
            self._plan = ctypes.c_void_p()

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the demo: a runtime's two layers, checked against a float64 transcription of the README's mask semantics ----

def reference(sequences, heads, q, k, v, num_heads, num_kv_heads, d, global_sinks=1, text_keys=True):
    image, sink, seq = [], [], []
    next_image = 0
    for s, segments in enumerate(sequences):
        start = len(image)
        for kind, length in segments:
            image += [next_image if kind == IMAGE else -1] * length
            sink += [kind == IMAGE] + [False] * (length - 1)
            seq += [s] * length
            next_image += kind == IMAGE
        for t in range(start, min(start + global_sinks, len(image))):
            sink[t] = True
    n, scale, group = len(image), 1 / math.sqrt(d), num_heads // num_kv_heads
    out, lse = [0.0] * (n * num_heads * d), [0.0] * (n * num_heads)

    def visible(cat, qi, ki):
        if seq[qi] != seq[ki] or ki > qi:
            return False
        if image[qi] < 0 or cat == "dense" or ki == qi:
            return True
        same = image[ki] == image[qi]
        return ((cat in ("sink", "intra-image+sink") and sink[ki]) or (cat in ("intra-image", "intra-image+sink") and same)
                or (text_keys and image[ki] < 0))

    for h, cat in enumerate(heads):
        kv = h // group
        for qi in range(n):
            qv = q[(qi * num_heads + h) * d:(qi * num_heads + h + 1) * d]
            keys = [ki for ki in range(n) if visible(cat, qi, ki)]
            scores = [scale * sum(a * b for a, b in zip(qv, k[(ki * num_kv_heads + kv) * d:(ki * num_kv_heads + kv + 1) * d]))
                      for ki in keys]
            top = max(scores)
            weights = [math.exp(s - top) for s in scores]
            total = sum(weights)
            lse[qi * num_heads + h] = top + math.log(total)
            for ki, w in zip(keys, weights):
                base = (ki * num_kv_heads + kv) * d
                for j in range(d):
                    out[(qi * num_heads + h) * d + j] += w / total * v[base + j]
    return out, lse


def micro_batched(attention, layer, q, k, v, micro):
    """The layer prefilled as a runtime with a KV cache does: micro-batches of `micro` query tokens, each attending to
    the cache so far. The cache is head-major ([kv head][capacity][head_dim], llama.cpp's view of its K/V), read in
    place through strides; each micro-batch writes its own rows of out."""
    n, h, kvh, d = attention.num_tokens, attention.num_heads, attention.num_kv_heads, attention.head_dim
    k_cache = array.array("f", [0.0]) * (kvh * n * d)
    v_cache = array.array("f", [0.0]) * (kvh * n * d)
    out = array.array("f", [math.nan]) * (n * h * d)
    for b in range(0, n, micro):
        e = min(n, b + micro)
        for t in range(b, e):  # append the micro-batch's keys and values to the cache
            for g in range(kvh):
                src, dst = (t * kvh + g) * d, (g * n + t) * d
                k_cache[dst:dst + d] = k[src:src + d]
                v_cache[dst:dst + d] = v[src:src + d]
        q_rows = q[b * h * d:e * h * d]
        out_rows = array.array("f", [math.nan]) * ((e - b) * h * d)
        attention.forward(layer, q_rows, k_cache, v_cache, out_rows, queries=(b, e), keys=(0, e), kv_strides=(d, n * d))
        out[b * h * d:e * h * d] = out_rows
    return out


def micro_batched_token_major(attention, layer, q, k, v, micro, kv_pack):
    """The same against a token-major cache (the first e rows of k and v), with the layer's KvPack keeping the kernel's
    copy of it between micro-batches."""
    n, h, kvh, d = attention.num_tokens, attention.num_heads, attention.num_kv_heads, attention.head_dim
    out = array.array("f", [math.nan]) * (n * h * d)
    for b in range(0, n, micro):
        e = min(n, b + micro)
        out_rows = array.array("f", [math.nan]) * ((e - b) * h * d)
        attention.forward(layer, q[b * h * d:e * h * d], k[:e * kvh * d], v[:e * kvh * d], out_rows, queries=(b, e),
                          keys=(0, e), kv_pack=kv_pack)
        out[b * h * d:e * h * d] = out_rows
    return out


def ring_step(attention, layer, q, k, v, split):
    """The layer over two key shards [0, split) and [split, n), as two devices of a ring would compute it, merged."""
    n, h, kvh, d = attention.num_tokens, attention.num_heads, attention.num_kv_heads, attention.head_dim
    partials = []
    for b, e in ((0, split), (split, n)):
        out, lse = array.array("f", [math.nan]) * (n * h * d), array.array("f", [math.nan]) * (n * h)
        attention.forward(layer, q, k[b * kvh * d:e * kvh * d], v[b * kvh * d:e * kvh * d], out, lse, keys=(b, e))
        partials.append((out, lse))
    out, lse = array.array("f", [math.nan]) * (n * h * d), array.array("f", [math.nan]) * (n * h)
    return attention.merge(partials, out, lse), lse


def main():
    lib = load_library(sys.argv[1] if len(sys.argv) > 1 else None)
    sequences = [[(TEXT, 6), (IMAGE, 40), (TEXT, 3), (IMAGE, 30), (TEXT, 5)],  # two prompts packed into one batch
                 [(IMAGE, 17), (TEXT, 4)]]
    policy = [["dense", "sink", "intra-image", "intra-image+sink"],
              ["intra-image", "intra-image", "sink", "dense"]]
    num_heads, num_kv_heads, head_dim = 4, 2, 16
    rng = random.Random(7)
    report = {"version": lib.blindsight_version().decode(), "isas": lib.blindsight_cpu_isas().decode(), "layers": []}
    with PromptAttention(lib, sequences, policy, num_heads, num_kv_heads, head_dim) as attention:
        n = attention.num_tokens
        report["num_tokens"] = n
        for layer, heads in enumerate(policy):
            # The runtime's own buffers for this layer.
            q = array.array("f", (rng.gauss(0, 1) for _ in range(n * num_heads * head_dim)))
            k = array.array("f", (rng.gauss(0, 1) for _ in range(n * num_kv_heads * head_dim)))
            v = array.array("f", (rng.gauss(0, 1) for _ in range(n * num_kv_heads * head_dim)))
            out = array.array("f", [math.nan]) * (n * num_heads * head_dim)  # NaN: an unwritten element shows
            lse = array.array("f", [math.nan]) * (n * num_heads)
            attention.forward(layer, q, k, v, out, lse)
            ref_out, ref_lse = reference(sequences, heads, q, k, v, num_heads, num_kv_heads, head_dim)
            chunked = micro_batched(attention, layer, q, k, v, micro=16)
            pack = KvPack(lib)
            packed = micro_batched_token_major(attention, layer, q, k, v, micro=16, kv_pack=pack)
            pack.close()
            ring_out, ring_lse = ring_step(attention, layer, q, k, v, split=37)
            report["layers"].append({
                "kept_ratio": attention.kept_ratio(layer),
                "max_abs_err": max(abs(a - b) for a, b in zip(out, ref_out)),
                "max_lse_err": max(abs(a - b) for a, b in zip(lse, ref_lse)),
                "all_written": all(math.isfinite(x) for x in out) and all(math.isfinite(x) for x in lse),
                "micro_batch_max_abs_err": max(abs(a - b) for a, b in zip(chunked, ref_out)),
                "kv_pack_max_abs_err": max(abs(a - b) for a, b in zip(packed, ref_out)),
                "ring_max_abs_err": max(abs(a - b) for a, b in zip(ring_out, ref_out)),
                "ring_max_lse_err": max(abs(a - b) for a, b in zip(ring_lse, ref_lse)),
            })
    print(json.dumps(report))
    ok = all(l["all_written"] and max(l["max_abs_err"], l["max_lse_err"], l["micro_batch_max_abs_err"], l["kv_pack_max_abs_err"],
                                      l["ring_max_abs_err"], l["ring_max_lse_err"]) < 1e-4 for l in report["layers"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
