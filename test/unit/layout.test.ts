import { describe, expect, it } from 'vitest';
import { BlindsightError, Layout, TEMPLATES } from '../../dist/index.js';
import { mulberry32, randomSegments, refLayout } from '../oracle/reference.js';

describe('Layout.fromSegments', () => {
  it('matches the reference layout on random varlen batches', () => {
    const rng = mulberry32(11);
    for (let trial = 0; trial < 200; trial++) {
      const segs = randomSegments(rng, { maxTokens: 300 });
      const g = Math.floor(rng() * 4);
      const L = Layout.fromSegments(segs, { globalSinks: g });
      const R = refLayout(segs, g);
      expect(L.numTokens).toBe(R.numTokens);
      expect(Array.from(L.cuSeqlens)).toEqual(Array.from(R.cuSeqlens));
      expect(Array.from(L.imageIds)).toEqual(Array.from(R.imageIds));
      expect(Array.from(L.sinkFlags)).toEqual(Array.from(R.isSink));
    }
  });

  it('marks image starts and global sinks, numbers images over the batch', () => {
    const L = Layout.fromSegments(
      [
        [{ kind: 'image', length: 3 }, { kind: 'image', length: 2 }, { kind: 'text', length: 2 }],
        [{ kind: 'text', length: 3 }, { kind: 'image', length: 1 }],
      ],
      { globalSinks: 2 },
    );
    expect(Array.from(L.cuSeqlens)).toEqual([0, 7, 11]);
    expect(Array.from(L.imageIds)).toEqual([0, 0, 0, 1, 1, -1, -1, -1, -1, -1, 2]);
    expect(Array.from(L.sinkFlags)).toEqual([1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1]);
    expect(L.numImages).toBe(3);
    expect(L.segments()).toEqual([
      [{ kind: 'image', length: 3 }, { kind: 'image', length: 2 }, { kind: 'text', length: 2 }],
      [{ kind: 'text', length: 3 }, { kind: 'image', length: 1 }],
    ]);
  });

  it('accepts a single sequence as a flat segment list', () => {
    const L = Layout.fromSegments([{ kind: 'text', length: 4 }, { kind: 'image', length: 4 }]);
    expect(L.numSequences).toBe(1);
    expect(L.numTokens).toBe(8);
  });
});

describe('Layout.fromTokenIds', () => {
  const q = TEMPLATES['qwen2-vl'];
  const pad = q.imageTokens![0];
  it('splits Qwen2-VL prompts at vision_start/vision_end, delimiters included', () => {
    const ids = [1, 2, q.imageStart, pad, pad, q.imageEnd, 3, q.imageStart, pad, q.imageEnd];
    const L = Layout.fromTokenIds(ids, 'qwen2-vl');
    expect(L.segments()).toEqual([[{ kind: 'text', length: 2 }, { kind: 'image', length: 4 }, { kind: 'text', length: 1 }, { kind: 'image', length: 3 }]]);
    expect(Array.from(L.sinkFlags)).toEqual([1, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
  });

  it('handles Gemma 3 ids, several sequences and typed arrays', () => {
    const g = TEMPLATES.gemma3;
    const L = Layout.fromTokenIds([Int32Array.from([g.imageStart, 262144, g.imageEnd]), [5, 6]], 'gemma3');
    expect(Array.from(L.cuSeqlens)).toEqual([0, 3, 5]);
    expect(Array.from(L.imageIds)).toEqual([0, 0, 0, -1, -1]);
    expect(TEMPLATES['qwen2.5-vl'].imageStart).toBe(151652);
  });

  it('accepts a custom template', () => {
    const L = Layout.fromTokenIds([7, 100, 8, 101, 7], { name: 'mine', imageStart: 100, imageEnd: 101 });
    expect(L.segments()[0].map((s) => s.kind)).toEqual(['text', 'image', 'text']);
  });

  it('rejects malformed prompts with typed errors', () => {
    const bad: [unknown, string][] = [
      [[1, q.imageStart, pad], 'UNTERMINATED_IMAGE'],
      [[1, q.imageEnd], 'BAD_TOKEN_IDS'],
      [[q.imageStart, q.imageStart, q.imageEnd], 'BAD_TOKEN_IDS'],
      [[1, pad, 2], 'BAD_TOKEN_IDS'],
      [[1, -3], 'BAD_TOKEN_IDS'],
      [[1, 2.5], 'BAD_TOKEN_IDS'],
      [[], 'BAD_TOKEN_IDS'],
      [[[1], []], 'BAD_TOKEN_IDS'],
    ];
    for (const [ids, code] of bad) {
      expect(() => Layout.fromTokenIds(ids as number[], 'qwen2-vl')).toThrow(expect.objectContaining({ name: 'BlindsightError', code }));
    }
    expect(() => Layout.fromTokenIds([1], 'llava' as never)).toThrow(BlindsightError);
  });
});

describe('the token limit', () => {
  it('a layout holds at most 2^30 tokens, refused before anything is allocated', async () => {
    const { MAX_TOKENS } = await import('../../dist/index.js');
    expect(MAX_TOKENS).toBe(2 ** 30);
    expect(() => Layout.fromSegments([{ kind: 'text', length: 2 ** 29 }, { kind: 'image', length: 2 ** 29 + 1 }])).toThrow(expect.objectContaining({ code: 'TOO_MANY_TOKENS' }));
  });
});
