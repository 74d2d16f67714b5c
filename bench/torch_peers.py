#!/usr/bin/env python3
"""Benchmark peers for the blindsight GPU bench: PyTorch scaled_dot_product_attention (dense causal, the
FlashAttention-2 baseline) and FlexAttention with a BlockMask equivalent to each blindsight head category, on the same
prompts. Run by `npm run bench -- --backend cuda --peer torch`, which writes the request (shapes, prompts as segment
lists, head policies, and blindsight's exact visible-pair counts) and reads back the timings.

The mask is rebuilt here from the segment layout with the semantics of README "Mask semantics" (one sequence per
prompt, globalSinks = 1, no window, images causal). Before timing, the script counts the pairs its mask_mod keeps, row
chunk by row chunk, and compares them with blindsight's counts: "Flex mask: same" in the table means FlexAttention
was given exactly the same mask.

Needs PyTorch >= 2.5 (FlexAttention, enable_gqa). Standard library otherwise.
  python3 bench/torch_peers.py --request request.json --out result.json [--device cuda|cpu] [--no-compile]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

CATEGORY_CODES = {"dense": 0, "sink": 1, "intra-image": 2, "intra-image+sink": 3}


def layout_tensors(segments, device):
    """Per-token image id (-1 for text) and sink flag, as Layout.fromSegments builds them for one sequence."""
    image_ids, sinks = [], []
    next_image = 0
    for seg in segments:
        if seg["kind"] == "image":
            image_ids += [next_image] * seg["length"]
            sinks += [True] + [False] * (seg["length"] - 1)
            next_image += 1
        else:
            image_ids += [-1] * seg["length"]
            sinks += [False] * seg["length"]
    sinks[0] = True  # globalSinks = 1: the sequence's first token
    return (torch.tensor(image_ids, dtype=torch.int32, device=device), torch.tensor(sinks, dtype=torch.bool, device=device))


def make_mask_mod(image_ids, sinks, head_categories, text_keys):
    """The BlindSight element rule for FlexAttention: visible(q, k) for head h."""

    def mask_mod(b, h, q_idx, kv_idx):
        c = head_categories[h]
        q_image = image_ids[q_idx]
        k_image = image_ids[kv_idx]
        causal = kv_idx <= q_idx
        same_image = (q_image >= 0) & (k_image == q_image)
        sees_sinks = (c == 1) | (c == 3)
        sees_own = (c == 2) | (c == 3)
        sparse_ok = (kv_idx == q_idx) | (sinks[kv_idx] & sees_sinks) | (same_image & sees_own)
        if text_keys:
            sparse_ok = sparse_ok | (k_image < 0)
        return causal & ((q_image < 0) | (c == 0) | sparse_ok)

    return mask_mod


def count_visible(mask_mod, heads, n, device):
    """Exact number of (head, q, k) pairs the mask keeps, evaluated densely one row chunk at a time."""
    total = 0
    rows = max(1, (1 << 27) // n)
    kv = torch.arange(n, device=device)[None, :]
    for h in heads:
        hh = torch.tensor(h, device=device)
        for r0 in range(0, n, rows):
            q = torch.arange(r0, min(n, r0 + rows), device=device)[:, None]
            total += int(mask_mod(0, hh, q, kv).sum().item())
    return total


def timer(device, repeats):
    def run(fn):
        fn()  # warm-up (and compilation)
        times = []
        for _ in range(repeats):
            if device == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--request", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--no-compile", action="store_true", help="eager FlexAttention (slow; for smoke tests)")
    a = ap.parse_args()
    req = json.load(open(a.request))
    device = a.device
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[req["dtype"]]
    H, KV, D = req["numHeads"], req["numKvHeads"], req["headDim"]
    run = timer(device, req["repeats"])
    flex = flex_attention if a.no_compile else torch.compile(flex_attention, dynamic=False)
    if device == "cuda":
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, {req['dtype']}", flush=True)

    rows = []
    for prompt in req["prompts"]:
        n = sum(s["length"] for s in prompt["segments"])
        image_ids, sinks = layout_tensors(prompt["segments"], device)
        g = torch.Generator(device=device).manual_seed(n)
        q = torch.randn(1, H, n, D, device=device, dtype=dtype, generator=g)
        k = torch.randn(1, KV, n, D, device=device, dtype=dtype, generator=g)
        v = torch.randn(1, KV, n, D, device=device, dtype=dtype, generator=g)
        sdpa_ms = run(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True))
        print(f"{n} tokens: SDPA dense causal {sdpa_ms:.2f} ms", flush=True)
        for name, categories in req["policies"].items():
            codes = [CATEGORY_CODES[c] for c in categories]
            uniform = len(set(codes)) == 1
            head_categories = torch.tensor(codes, dtype=torch.int32, device=device)
            mask_mod = make_mask_mod(image_ids, sinks, head_categories, req["textKeys"])
            visible = count_visible(mask_mod, range(H), n, device) if not uniform else H * count_visible(mask_mod, [0], n, device)
            expected = prompt["visiblePairs"][name]
            mask_ok = visible == expected
            t0 = time.perf_counter()
            block_mask = create_block_mask(mask_mod, None, None if uniform else H, n, n, device=device)
            block_mask_ms = (time.perf_counter() - t0) * 1e3
            flex_ms = run(lambda: flex(q, k, v, block_mask=block_mask, enable_gqa=True))
            print(f"  {name}: Flex {flex_ms:.2f} ms (BlockMask built in {block_mask_ms:.0f} ms), mask "
                  f"{'same' if mask_ok else f'DIFFERS ({visible} vs {expected} pairs)'}", flush=True)
            rows.append({"tokens": n, "policy": name, "sdpaDenseMs": sdpa_ms, "flexMs": flex_ms, "maskOk": mask_ok,
                         "blockMaskMs": block_mask_ms})
    json.dump({"torch": torch.__version__, "rows": rows}, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
