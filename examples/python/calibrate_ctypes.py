#!/usr/bin/env python3
"""Calibrating a head policy from a Python runtime's own prefill, through blindsight's C ABI (standard library only).

The calibration loop is the runtime's ordinary loop over sample prompts: the hook, in calibration mode, runs dense
attention for the model and observes every layer; nothing is written to disk. Here the "model" is synthetic: three
layers whose heads are planted, by construction, as own-image (intra-image), sink, own-image+sink and spread (dense)
heads, and the policy must find them.

    cmake -S . -B build-capi && cmake --build build-capi -j
    python3 examples/python/calibrate_ctypes.py [--dump DIR]   # --dump: the prompts' tensors as safetensors samples

Prints one JSON line: the categories found, the planted ones, and the policy file the C ABI wrote.
"""
import array
import json
import math
import os
import random
import struct
import sys

from blindsight_ctypes import IMAGE, TEXT, Calibrator, PromptAttention, load_library

NUM_LAYERS, NUM_HEADS, NUM_KV_HEADS, HEAD_DIM = 3, 8, 4, 16
PLANTS = ["intra-image", "sink", "intra-image+sink", "dense"]
AMPLITUDE = 12.0
PROMPTS = [  # (sequences of (kind, length), global sinks)
    ([[(TEXT, 12), (IMAGE, 70), (TEXT, 4), (IMAGE, 90), (TEXT, 6), (IMAGE, 60), (IMAGE, 80), (TEXT, 10)]], 1),
    ([[(TEXT, 20), (IMAGE, 100), (TEXT, 3), (IMAGE, 50), (TEXT, 3), (IMAGE, 120), (TEXT, 8)],
      [(TEXT, 5), (IMAGE, 60), (IMAGE, 60), (TEXT, 5)]], 2),
]


def planted(layer, head):
    return PLANTS[(head + layer) % 4]


def layout(sequences, global_sinks):
    """Per token: image id (-1 for text), sink flag, and the sequence boundaries, as the README's mask semantics."""
    image_ids, sinks, cu_seqlens, next_image = [], [], [0], 0
    for segments in sequences:
        start = len(image_ids)
        for kind, length in segments:
            image_ids += [next_image if kind == IMAGE else -1] * length
            sinks += [kind == IMAGE] + [False] * (length - 1)
            next_image += kind == IMAGE
        for t in range(start, min(start + global_sinks, len(image_ids))):
            sinks[t] = True
        cu_seqlens.append(len(image_ids))
    return image_ids, sinks, cu_seqlens


def model_layer(image_ids, sinks, cu_seqlens, heads, rng, noise=0.15):
    """One layer's q, k, v with planted heads (score = q.k at scale 1). Key channel i marks image i's non-sink tokens,
    two more its sinks and the text sinks; an image query's channels pick what its head attends to."""
    n, h_, kv, d = len(image_ids), len(heads), NUM_KV_HEADS, HEAD_DIM
    num_images = max(image_ids) + 1
    image_sink, text_sink = num_images, num_images + 1
    length, earlier = {}, {}
    for s in range(len(cu_seqlens) - 1):
        seen = 0
        for t in range(cu_seqlens[s], cu_seqlens[s + 1]):
            img = image_ids[t]
            if img >= 0:
                if img not in length:
                    earlier[img], seen = seen, seen + 1
                length[img] = length.get(img, 0) + 1
    q = array.array("f", (rng.gauss(0, noise) for _ in range(n * h_ * d)))
    k = array.array("f", (rng.gauss(0, noise / 10) for _ in range(n * kv * d)))
    v = array.array("f", (rng.gauss(0, 1) for _ in range(n * kv * d)))
    for t in range(n):
        img = image_ids[t]
        for g in range(kv):
            base = (t * kv + g) * d
            if sinks[t]:
                k[base + (image_sink if img >= 0 else text_sink)] += 1
            elif img >= 0:
                k[base + img] += 1
        if img < 0:
            continue
        for h, category in enumerate(heads):
            base = (t * h_ + h) * d
            if category in ("intra-image", "intra-image+sink"):
                q[base + img] += AMPLITUDE
            if category == "sink":
                q[base + image_sink] += AMPLITUDE
                q[base + text_sink] += AMPLITUDE
            if category == "intra-image+sink" and earlier[img] > 0:
                # Earlier images' sinks weigh about as much as the own image: neither sparser category keeps 95 %.
                q[base + image_sink] += AMPLITUDE + math.log(length[img] / earlier[img])
    return q, k, v


def write_sample(path, sequences, global_sinks, layers):
    """A safetensors calibration sample (docs/calibration.md) of the prompt's tensors: what a runtime would dump."""
    segments = [[{"kind": "image" if kind == IMAGE else "text", "length": length} for kind, length in seq]
                for seq in sequences]
    header, offset, blobs = {"__metadata__": {"blindsight.segments": json.dumps(segments),
                                              "blindsight.global_sinks": str(global_sinks), "blindsight.scale": "1"}}, 0, []
    n = sum(length for seq in sequences for _, length in seq)
    for l, (q, k, v) in enumerate(layers):
        for name, data, heads in (("q", q, NUM_HEADS), ("k", k, NUM_KV_HEADS), ("v", v, NUM_KV_HEADS)):
            if sys.byteorder != "little":  # the format is little-endian
                data = array.array("f", data)
                data.byteswap()
            raw = data.tobytes()
            header[f"layers.{l}.{name}"] = {"dtype": "F32", "shape": [n, heads, HEAD_DIM], "data_offsets": [offset, offset + len(raw)]}
            blobs.append(raw)
            offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    dump = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None
    lib = load_library()
    rng = random.Random(5)
    with Calibrator(lib, NUM_LAYERS, NUM_HEADS, NUM_KV_HEADS, HEAD_DIM, scale=1.0) as calibrator:
        for p, (sequences, global_sinks) in enumerate(PROMPTS):
            image_ids, sinks, cu_seqlens = layout(sequences, global_sinks)
            n, layers = len(image_ids), []
            # The runtime's prefill of one sample prompt, with the hook in calibration mode.
            with PromptAttention(lib, sequences, None, NUM_HEADS, NUM_KV_HEADS, HEAD_DIM, global_sinks=global_sinks,
                                 calibrator=calibrator, scale=1.0) as attention:
                for layer in range(NUM_LAYERS):
                    q, k, v = model_layer(image_ids, sinks, cu_seqlens, [planted(layer, h) for h in range(NUM_HEADS)], rng)
                    out = array.array("f", [math.nan]) * (n * NUM_HEADS * HEAD_DIM)
                    attention.forward(layer, q, k, v, out)  # dense attention for the model, and observed
                    assert all(math.isfinite(x) for x in out)
                    layers.append((q, k, v))
            if dump:
                write_sample(os.path.join(dump, f"prompt{p}.safetensors"), sequences, global_sinks, layers)
        categories = calibrator.policy(tau=0.95)
        policy = json.loads(calibrator.policy_json(tau=0.95, model="planted"))
    expected = [[planted(l, h) for h in range(NUM_HEADS)] for l in range(NUM_LAYERS)]
    print(json.dumps({"categories": categories, "planted": expected, "policy": policy}))
    return 0 if categories == expected and policy["categories"] == expected else 1


if __name__ == "__main__":
    sys.exit(main())
