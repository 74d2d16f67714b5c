/**
 * 'blindsight': layouts, mask plans, head policies and block-sparse attention (one call, or the per-prompt hook), the
 * backends, dtype helpers and the CPU runtime. Calibration is in 'blindsight/calibrate'; FLOP accounting and SVG
 * pictures are in 'blindsight/report'.
 */
export { BlindsightError, type BlindsightErrorCode } from './core/errors.js';
export { HEAD_CATEGORIES, isHeadCategory, type HeadCategory } from './core/categories.js';
export { Layout, MAX_TOKENS, type Segment, type LayoutOptions } from './core/layout.js';
export { TEMPLATES, type TemplateName, type TokenTemplate } from './core/templates.js';
export { MaskPlan, type MaskOptions, type PlanOptions, type PlanStats, type CategoryStats, type RangeStats } from './core/plan.js';
export {
  attention, attentionSync, type AttentionArgs, type AttentionResult, type CpuIsa, type Tensor, type TokenRange, type TokenRanges, type CallStrides, type TensorStrides,
} from './attention/attention.js';
export { KvPack } from './attention/kv_pack.js';
export { mergeAttention, type MergeArgs, type PartialAttention } from './attention/merge.js';
export { DTYPES, toDType, fromDType, f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32, type DType } from './core/dtype.js';
export { HeadPolicy, POLICY_FORMAT, POLICY_VERSION, type HeadPolicyJSON } from './core/policy.js';
export { setThreads, getThreads, cpuInfo, fmaPeak } from './attention/runtime.js';
export { PromptAttention, LayerAttention, type PromptAttentionOptions, type PromptAttentionSummary, type FlopCounts, type ForwardOutputs } from './attention/hook.js';
export { nativeAddonPath } from './core/native.js';
export { listBackends, BACKENDS, type Backend, type BackendInfo, type CpuBackendInfo, type CudaBackendInfo } from './backends/backends.js';
export type { CudaDevice } from './backends/cuda.js';
