/**
 * 'blindsight/calibrate': deciding a model's head policy. The attention-mass pass (where each head's softmax mass
 * goes), the streaming Calibrator (observations of a running model, or of captured samples), calibrate / rethreshold
 * over captured Q/K samples, the sample readers, and the safetensors reader and writer the samples travel in. The policy itself (HeadPolicy) and attention are in the main entry, 'blindsight'.
 */
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
  outputErrorStats,
  CALIBRATION_VERSION,
  type CalibrateOptions,
  type CalibrationProgress,
  type CalibrationStats,
  type OutputErrorStats,
  type ThresholdOptions,
  type PinOptions,
} from './calibrate.js';
export { Calibrator, type CalibratorOptions, type CalibratorPolicyOptions, type ObserveArgs } from './calibrator.js';
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
} from '../io/safetensors.js';
export {
  evaluate,
  evaluationOf,
  evaluationTable,
  relativeL2,
  type Evaluation,
  type EvaluateOptions,
  type LayerEvaluation,
} from './evaluate.js';
