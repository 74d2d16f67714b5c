export { BlindsightError, type BlindsightErrorCode } from './errors.js';
export { HEAD_CATEGORIES, isHeadCategory, type HeadCategory } from './categories.js';
export { Layout, MAX_TOKENS, type Segment, type LayoutOptions } from './layout.js';
export { TEMPLATES, type TemplateName, type TokenTemplate } from './templates.js';
export { MaskPlan, type MaskOptions, type PlanOptions, type PlanStats, type CategoryStats } from './plan.js';
export { attention, attentionSync, type AttentionArgs, type AttentionResult, type CpuIsa, type Tensor } from './attention.js';
export { DTYPES, toDType, fromDType, f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32, type DType } from './dtype.js';
export { HeadPolicy, POLICY_FORMAT, POLICY_VERSION, type HeadPolicyJSON } from './policy.js';
export { setThreads, getThreads, cpuInfo, fmaPeak } from './runtime.js';
export { PromptAttention, LayerAttention, type PromptAttentionOptions, type PromptAttentionSummary, type FlopCounts, type ForwardOutputs } from './hook.js';
export { nativeAddonPath } from './native.js';
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
export {
  calibrate,
  rethreshold,
  calibrationStats,
  chooseCategories,
  CALIBRATION_VERSION,
  type CalibrateOptions,
  type CalibrationProgress,
  type CalibrationStats,
  type ThresholdOptions,
  type PinOptions,
} from './calibrate.js';
export {
  openSample,
  memorySample,
  layerTensorName,
  SAMPLE_META,
  INPUT_IDS_TENSOR,
  type CalibrationSample,
  type LayerTensors,
  type OpenSampleOptions,
} from './samples.js';
export {
  SafetensorsFile,
  parseSafetensorsHeader,
  encodeSafetensors,
  writeSafetensors,
  type SafetensorsDType,
  type TensorInfo,
  type TensorArray,
  type TensorToWrite,
} from './safetensors.js';
export { policyFlops, MODEL_SHAPES, type ModelShape, type ModelName, type PolicyFlops, type PolicyFlopsOptions } from './flops.js';
export { policySvg, planSvg, CATEGORY_COLORS } from './svg.js';
export { listBackends, BACKENDS, type Backend, type BackendInfo, type CpuBackendInfo, type CudaBackendInfo } from './backends.js';
export type { CudaDevice } from './cuda.js';
