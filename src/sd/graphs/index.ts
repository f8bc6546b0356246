/** SD1 as ONNX graphs: builders, K/V scopes, weights, cached sessions. See README.md here. */
export {
  inKvScope,
  KV_SCOPES,
  type KvMode,
  type KvScope,
  type KvWeightInfo,
  kvGradName,
  kvInputName,
  kvWeights,
  type TransformerBlockInfo,
  UNET_KEY_PREFIX,
  unetTransformerModules,
} from './kv.js';
export {
  type FloatData,
  type GraphRunnerInfo,
  loadSd1Sessions,
  SD1_GRAPHS_VERSION,
  type Sd1ModelSource,
  Sd1Sessions,
  type Sd1SessionsOptions,
  type TextEncoderRunner,
  type TrainingRunInputs,
  type TrainingRunner,
  type TrainingRunnerOptions,
  type UnetRunInputs,
  type UnetRunner,
  type VaeDecoderRunner,
  type VaeEncoderRunner,
} from './sessions.js';
export {
  buildTextEncoderGraph,
  TEXT_INPUT,
  TEXT_KEY_PREFIX,
  TEXT_OUTPUT,
  type TextEncoderGraphOptions,
  textEncoderForward,
} from './text-encoder.js';
export {
  buildTrainingGraph,
  DEFAULT_TRAINING_ATTENTION_BUDGET,
  TRAINING_INPUTS,
  TRAINING_LOSS,
  type TrainingGraphOptions,
} from './training.js';
export {
  type AttentionRecompute,
  attentionChunks,
  type BuiltGraph,
  buildUnetGraph,
  UNET_INPUTS,
  UNET_OUTPUT,
  type UnetGraphOptions,
  type UnetShape,
} from './unet.js';
export {
  buildUnetTrainingGraph,
  MODEL_TRAINING_LOSS,
  type TrainingGraph,
  UNET_TRAINING_INPUTS,
  type UnetTrainingGraphOptions,
  weightGradName,
} from './unet-training.js';
export {
  buildVaeDecoderGraph,
  buildVaeEncoderGraph,
  isVaeDecoderKey,
  SD1_VAE_SCALING_FACTOR,
  VAE_DECODER_INPUT,
  VAE_DECODER_OUTPUT,
  VAE_ENCODER_INPUT,
  VAE_ENCODER_OUTPUTS,
  VAE_KEY_PREFIX,
  type VaeGraphOptions,
  vaeDecoderForward,
  vaeEncoderForward,
} from './vae.js';
export {
  buildVaeTrainingGraph,
  LDM_KL_WEIGHT,
  VAE_RECONSTRUCTION_LOSSES,
  VAE_TRAINING_INPUTS,
  VAE_TRAINING_OUTPUTS,
  type VaeReconstructionLoss,
  type VaeTrainingGraphOptions,
} from './vae-training.js';
export {
  type GraphDType,
  loadWeights,
  storedWeights,
  type WeightReader,
  type Weights,
  type WeightTensor,
} from './weights.js';
