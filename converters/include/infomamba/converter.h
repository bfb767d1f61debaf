// Checkpoint to model-file conversion, in C++ with no Python needed.
//
// A checkpoint is a folder holding config.json and model.safetensors, or the path
// of a .safetensors file with config.json beside it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "infomamba/format/model_file.h"
#include "infomamba/status.h"

namespace infomamba::convert {

// Hyperparameters of a checkpoint, from config.json (see docs/MODEL.md).
struct CheckpointConfig {
  std::string architecture;
  size_t d_model = 0;     // D
  size_t n_layers = 0;
  size_t d_state = 0;     // N
  size_t d_conv = 0;      // K
  size_t expand = 0;      // E
  size_t d_inner = 0;     // Di = E * D
  size_t dt_rank = 0;     // R
  size_t n_concepts = 0;  // k
  size_t d_concept = 0;   // Dc
  double norm_eps = 1e-5;
  double concept_eps = 1e-6;
  std::string input_kind;  // "continuous" or "tokens"
  size_t channels = 0;     // C
  std::vector<std::string> channel_names;
  std::vector<double> mean;
  std::vector<double> std;
  double level_alpha = 0.0;
  size_t vocab_size = 0;   // V
  std::string output_kind;  // "forecast" or "logits"
  size_t horizon = 0;       // H
  std::vector<std::string> warnings;  // unknown keys, ignored
  std::string source_json;
};

// Parses config.json text. Missing keys without a default and out-of-range
// values are errors that name the key.
Result<CheckpointConfig> parse_checkpoint_config(const std::string& json_text);

// One tensor of a safetensors file, converted to float32.
struct CheckpointTensor {
  std::string source_dtype;  // as stored: F32, F16, BF16, F64
  std::vector<uint64_t> shape;
  std::vector<float> values;
};

// Parses a safetensors file held in memory: header length, JSON header, dtype,
// shape and data offsets, all checked against the byte count.
Result<std::map<std::string, CheckpointTensor>> parse_safetensors(std::span<const std::byte> bytes);
Result<std::map<std::string, CheckpointTensor>> read_safetensors(const std::string& path);

// A graph ready for format::write_model_file, with the weight bytes it points to.
struct BuiltModel {
  format::Model model;
  std::vector<std::unique_ptr<std::vector<float>>> weight_storage;
};

// Checks that every tensor the configuration requires is present with its shape
// and that no tensor is left over, then builds the graph of docs/FORMAT.md.
Result<BuiltModel> build_model(const CheckpointConfig& config,
                               std::map<std::string, CheckpointTensor> tensors);

struct ConvertReport {
  size_t parameter_count = 0;
  uint64_t file_bytes = 0;
  size_t state_bytes_per_stream = 0;
  size_t tensor_count = 0;
  size_t node_count = 0;
  std::vector<std::string> warnings;
};

// Reads the checkpoint, builds the graph and writes `output_path` atomically.
// Rejects with kInvalidArgument, before reading anything, an empty output path
// or one that names the checkpoint's own config.json or weights file. config.json
// must be a regular file of at most 16 MiB.
Result<ConvertReport> convert_checkpoint(const std::string& checkpoint_path,
                                         const std::string& output_path);

}  // namespace infomamba::convert
