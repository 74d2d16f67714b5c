export { BlindsightError, type BlindsightErrorCode } from './errors.js';
export { HEAD_CATEGORIES, isHeadCategory, type HeadCategory } from './categories.js';
export { Layout, MAX_TOKENS, type Segment, type LayoutOptions } from './layout.js';
export { TEMPLATES, type TemplateName, type TokenTemplate } from './templates.js';
export { MaskPlan, type MaskOptions, type PlanOptions, type PlanStats, type CategoryStats } from './plan.js';
export { attention, attentionSync, type AttentionArgs, type AttentionResult, type CpuIsa } from './attention.js';
export { HeadPolicy, POLICY_FORMAT, POLICY_VERSION, type HeadPolicyJSON } from './policy.js';
export { setThreads, getThreads, cpuInfo } from './runtime.js';
export {
  attentionMass,
  attentionMassSync,
  retainedMass,
  coarseMass,
  MASS_BUCKETS,
  NUM_MASS_BUCKETS,
  type MassBucket,
  type TensorDType,
  type AttentionMassArgs,
  type AttentionMassResult,
} from './mass.js';
