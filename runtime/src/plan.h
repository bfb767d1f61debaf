// Execution plan: a verified graph resolved into flat arrays the step loop can
// run without lookups, checks or allocation.
//
// Built once per Model. Every node's operand count, shapes and kinds (constant
// or activation) are checked here, so the executor assumes them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "infomamba/format/model_file.h"
#include "infomamba/kernels/kernels.h"
#include "infomamba/status.h"

namespace infomamba {

using format::OpType;

inline constexpr size_t kMaxOperands = 10;
inline constexpr size_t kMaxStates = 2;

// Run-time location of a graph tensor.
struct TensorSlot {
  bool is_constant = false;
  const float* data = nullptr;  // constants: the weights (mmap or plan-owned)
  size_t width = 0;             // activations: floats per step
  size_t arena_offset = 0;      // activations: floats per step before this one in the arena
};

struct StateSlot {
  size_t offset = 0;  // floats into the session's state buffer
  size_t count = 0;
  float initial_value = 0.0f;
};

// One node with its operands resolved and its sizes cached.
struct PlannedNode {
  OpType op = OpType::kAdd;
  std::string name;
  std::array<int32_t, kMaxOperands> inputs{};   // tensor indices, -1 when absent
  std::array<int32_t, kMaxOperands> outputs{};
  size_t input_count = 0;
  size_t output_count = 0;
  std::array<size_t, kMaxStates> state_offsets{};
  // Op sizes, named by the model notation where one applies.
  size_t n = 0;      // Linear: out; RMSNorm/Add/Standardize/StreamingLevel/GatedFusion: width
  size_t in = 0;     // Linear: in
  size_t Di = 0;     // CausalConv1d, SelectiveScan: channels
  size_t N = 0;      // SelectiveScan: state size
  size_t K = 0;      // CausalConv1d: width
  size_t k = 0;      // ConceptMemory: concepts; Embedding: V
  size_t Dc = 0;     // ConceptMemory: concept width
  size_t H = 0;      // ForecastOutput: horizon
  float eps = 0.0f;
  float alpha = 0.0f;
  bool apply_silu = false;
  const float* derived = nullptr;  // SelectiveScan: A = -exp(A_log); ConceptMemory: sigmoid(retention)
  size_t scratch_offset = 0;       // floats per step into the session scratch
};

class ExecutionPlan {
 public:
  // Checks `model` (already read and verified by the format library) against
  // each op's contract and resolves it. `model` must outlive the plan.
  static Result<ExecutionPlan> build(const format::Model& model);

  const std::vector<TensorSlot>& tensors() const { return tensors_; }
  const std::vector<PlannedNode>& nodes() const { return nodes_; }
  const std::vector<StateSlot>& states() const { return states_; }

  size_t state_floats() const { return state_floats_; }
  size_t activation_floats_per_step() const { return activation_floats_per_step_; }
  size_t scratch_floats_per_step() const { return scratch_floats_per_step_; }
  size_t input_tensor() const { return input_tensor_; }
  size_t output_tensor() const { return output_tensor_; }
  size_t input_width() const { return tensors_[input_tensor_].width; }
  size_t output_width() const { return tensors_[output_tensor_].width; }
  // A hash of the state names and sizes, stored in session snapshots.
  uint64_t state_fingerprint() const { return state_fingerprint_; }
  // V for token models, whose input is one token id per step; 0 otherwise.
  size_t vocab_size() const { return vocab_size_; }

  // Runs every node over `rows` steps. The arena has activation_floats_per_step()
  // * max_rows floats, state has state_floats(), scratch has
  // scratch_floats_per_step() * max_rows. The input rows must already be in the
  // input tensor's slot.
  void execute(const kernels::KernelTable& kernel_table, size_t rows, size_t max_rows, float* arena, float* state,
               float* scratch) const;

 private:
  std::vector<TensorSlot> tensors_;
  std::vector<PlannedNode> nodes_;
  std::vector<StateSlot> states_;
  std::vector<std::vector<float>> derived_storage_;
  size_t state_floats_ = 0;
  size_t activation_floats_per_step_ = 0;
  size_t scratch_floats_per_step_ = 0;
  size_t input_tensor_ = 0;
  size_t output_tensor_ = 0;
  uint64_t state_fingerprint_ = 0;
  size_t vocab_size_ = 0;
};

}  // namespace infomamba
