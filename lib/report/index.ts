/**
 * 'blindsight/report': what a policy costs and what it looks like. FLOP accounting of a policy on a prompt (with the
 * built-in model shapes for whole-prefill numbers), and SVG pictures of a policy and of a plan's block map.
 */
export { policyFlops, MODEL_SHAPES, type ModelShape, type ModelName, type PolicyFlops, type PolicyFlopsOptions } from './flops.js';
export { policySvg, planSvg, CATEGORY_COLORS } from './svg.js';
