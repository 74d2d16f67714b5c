export { BlindsightError, type BlindsightErrorCode } from './core/errors.js';
export { HEAD_CATEGORIES, isHeadCategory, type HeadCategory } from './core/categories.js';
export { Layout, MAX_TOKENS, type Segment, type LayoutOptions } from './core/layout.js';
export { TEMPLATES, type TemplateName, type TokenTemplate } from './core/templates.js';
export { MaskPlan, type MaskOptions, type PlanOptions, type PlanStats, type CategoryStats } from './core/plan.js';
export { attention, attentionSync, type AttentionArgs, type AttentionResult, type CpuIsa, type Tensor } from './attention/attention.js';
export { DTYPES, toDType, fromDType, f32ToBf16Bits, bf16BitsToF32, f32ToF16Bits, f16BitsToF32, type DType } from './core/dtype.js';
export { HeadPolicy, POLICY_FORMAT, POLICY_VERSION, type HeadPolicyJSON } from './core/policy.js';
export { setThreads, getThreads, cpuInfo, fmaPeak } from './attention/runtime.js';
export { PromptAttention, LayerAttention, type PromptAttentionOptions, type PromptAttentionSummary, type FlopCounts, type ForwardOutputs } from './attention/hook.js';
export { nativeAddonPath } from './core/native.js';
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
} from './calibration/mass.js';
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
} from './calibration/calibrate.js';
export {
  openSample,
  memorySample,
  layerTensorName,
  SAMPLE_META,
  INPUT_IDS_TENSOR,
  type CalibrationSample,
  type LayerTensors,
  type OpenSampleOptions,
} from './calibration/samples.js';
export {
  SafetensorsFile,
  parseSafetensorsHeader,
  encodeSafetensors,
  writeSafetensors,
  type SafetensorsDType,
  type TensorInfo,
  type TensorArray,
  type TensorToWrite,
} from './io/safetensors.js';
export { policyFlops, MODEL_SHAPES, type ModelShape, type ModelName, type PolicyFlops, type PolicyFlopsOptions } from './report/flops.js';
export { policySvg, planSvg, CATEGORY_COLORS } from './report/svg.js';
export { listBackends, BACKENDS, type Backend, type BackendInfo, type CpuBackendInfo, type CudaBackendInfo } from './backends/backends.js';
export type { CudaDevice } from './backends/cuda.js';
