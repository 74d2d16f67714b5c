/**
 * Model templates: which token ids open and close an image span. Ids are taken from the models' published
 * configs (Hugging Face `config.json`):
 *  - Qwen2-VL / Qwen2.5-VL (Qwen/Qwen2-VL-7B-Instruct, Qwen/Qwen2.5-VL-7B-Instruct): `vision_start_token_id` 151652
 *    (`<|vision_start|>`), `vision_end_token_id` 151653 (`<|vision_end|>`), `image_token_id` 151655
 *    (`<|image_pad|>`), `video_token_id` 151656 (`<|video_pad|>`).
 *  - Gemma 3 (google/gemma-3-12b-it, google/gemma-3-27b-it): `boi_token_index` 255999 (`<start_of_image>`),
 *    `eoi_token_index` 256000 (`<end_of_image>`), `image_token_index` 262144 (`<image_soft_token>`).
 * An image span runs from its start delimiter through its end delimiter, both included; the start delimiter is the
 * span's first token and so its sink.
 */
export interface TokenTemplate {
  name: string;
  imageStart: number;
  imageEnd: number;
  /** Placeholder ids that may only appear inside a span (a stray one means a malformed prompt). */
  imageTokens?: readonly number[];
}

export const TEMPLATES: Readonly<Record<'qwen2-vl' | 'qwen2.5-vl' | 'gemma3', TokenTemplate>> = Object.freeze({
  'qwen2-vl': { name: 'qwen2-vl', imageStart: 151652, imageEnd: 151653, imageTokens: [151655, 151656] },
  'qwen2.5-vl': { name: 'qwen2.5-vl', imageStart: 151652, imageEnd: 151653, imageTokens: [151655, 151656] },
  gemma3: { name: 'gemma3', imageStart: 255999, imageEnd: 256000, imageTokens: [262144] },
});

export type TemplateName = keyof typeof TEMPLATES;
