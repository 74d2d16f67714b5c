export { BlindsightError, type BlindsightErrorCode } from './errors.js';
export { HEAD_CATEGORIES, isHeadCategory, type HeadCategory } from './categories.js';
export { Layout, MAX_TOKENS, type Segment, type LayoutOptions } from './layout.js';
export { TEMPLATES, type TemplateName, type TokenTemplate } from './templates.js';
export { MaskPlan, type MaskOptions, type PlanOptions, type PlanStats, type CategoryStats } from './plan.js';
export { attention, attentionSync, type AttentionArgs, type AttentionResult, type CpuIsa, type Tensor } from './attention.js';
export { DTYPES, toDType, fromDType, f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32, type DType } from './dtype.js';
export { HeadPolicy, POLICY_FORMAT, POLICY_VERSION, type HeadPolicyJSON } from './policy.js';
export { setThreads, getThreads, cpuInfo, fmaPeak } from './runtime.js';
