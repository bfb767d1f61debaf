// The step loop: runs the planned nodes in order over a block of rows.
//
// Shapes and operand kinds were checked when the plan was built, so this file
// only computes. Each activation occupies max_rows rows of `width` floats in the
// arena; the recurrent ops walk their rows in time order.
#include <algorithm>
#include <cstring>

#include "infomamba/kernels/kernels.h"
#include "plan.h"

namespace infomamba {
namespace {

struct Operands {
  const kernels::KernelTable& k;
  const std::vector<TensorSlot>& tensors;
  const PlannedNode& node;
  size_t max_rows;
  float* arena;

  // Activation rows or constant data of input `position`; nullptr when absent.
  const float* in(size_t position) const {
    const int32_t index = node.inputs[position];
    if (index < 0) return nullptr;
    const TensorSlot& slot = tensors[static_cast<size_t>(index)];
    return slot.is_constant ? slot.data : arena + slot.arena_offset * max_rows;
  }

  float* out(size_t position) const {
    const TensorSlot& slot = tensors[static_cast<size_t>(node.outputs[position])];
    return arena + slot.arena_offset * max_rows;
  }

  size_t out_width(size_t position) const {
    return tensors[static_cast<size_t>(node.outputs[position])].width;
  }
};

void run_standardize(const Operands& op, size_t rows) {
  const size_t C = op.node.n;
  const float* x = op.in(0);      // [rows, C]
  const float* mean = op.in(1);   // [C]
  const float* scale = op.in(2);  // [C]
  float* y = op.out(0);           // [rows, C]
  for (size_t t = 0; t < rows; ++t) {
    for (size_t c = 0; c < C; ++c) y[t * C + c] = (x[t * C + c] - mean[c]) / scale[c];
  }
}

void run_streaming_level(const Operands& op, size_t rows, float* state) {
  const size_t C = op.node.n;
  const float alpha = op.node.alpha;
  const float* x = op.in(0);                           // [rows, C]
  float* deviation = op.out(0);                        // [rows, C]
  float* level = op.out(1);                            // [rows, C]
  float* level_sum = state + op.node.state_offsets[0];  // m [C]
  float* decay = state + op.node.state_offsets[1];      // p [1]
  for (size_t t = 0; t < rows; ++t) {
    // p = (1 - α) p;  m = (1 - α) m + α x;  ℓ = m / (1 - p), the bias-corrected mean.
    *decay = (1.0f - alpha) * *decay;
    const float correction = 1.0f / (1.0f - *decay);
    for (size_t c = 0; c < C; ++c) {
      level_sum[c] = (1.0f - alpha) * level_sum[c] + alpha * x[t * C + c];
      level[t * C + c] = level_sum[c] * correction;
      deviation[t * C + c] = x[t * C + c] - level[t * C + c];
    }
  }
}

void run_split(const Operands& op, size_t rows) {
  const size_t n = op.node.n;
  const float* x = op.in(0);  // [rows, n]
  size_t column = 0;
  for (size_t i = 0; i < op.node.output_count; ++i) {
    const size_t width = op.out_width(i);
    float* y = op.out(i);  // [rows, width]
    for (size_t t = 0; t < rows; ++t) std::memcpy(y + t * width, x + t * n + column, width * sizeof(float));
    column += width;
  }
}

void run_causal_conv1d(const Operands& op, size_t rows, float* state) {
  const size_t Di = op.node.Di;
  const float* x = op.in(0);       // [rows, Di]
  const float* weight = op.in(1);  // [Di, 1, K]
  const float* bias = op.in(2);    // [Di]
  float* y = op.out(0);            // [rows, Di]
  float* window = state + op.node.state_offsets[0];  // [K-1, Di]
  for (size_t t = 0; t < rows; ++t) {
    op.k.causal_conv1d_step(x + t * Di, window, weight, bias, Di, op.node.K, op.node.apply_silu,
                          y + t * Di);
  }
}

void run_selective_scan(const Operands& op, size_t rows, float* state, float* scratch) {
  const size_t Di = op.node.Di;
  const size_t N = op.node.N;
  const float* x = op.in(0);         // [rows, Di]
  const float* dt = op.in(1);        // [rows, Di]
  const float* B = op.in(2);         // [rows, N]
  const float* C = op.in(3);         // [rows, N]
  const float* D = op.in(5);         // [Di]
  const float* z = op.in(6);         // [rows, Di]
  const float* dt_extra = op.in(7);  // [rows, Di] or nullptr
  const float* B_extra = op.in(8);   // [rows, N] or nullptr
  const float* C_extra = op.in(9);   // [rows, N] or nullptr
  const float* A = op.node.derived;  // [Di, N], -exp(A_log)
  float* ssm = state + op.node.state_offsets[0];  // [Di, N]
  float* y = op.out(0);                            // [rows, Di]
  float* B_step = scratch;                         // [N]
  float* C_step = scratch + N;                     // [N]

  for (size_t t = 0; t < rows; ++t) {
    // IMF part 1: the global context shifts B and C before the scan step.
    const float* B_row = B + t * N;
    const float* C_row = C + t * N;
    if (B_extra != nullptr) {
      op.k.add(B_row, B_extra + t * N, N, B_step);
      B_row = B_step;
    }
    if (C_extra != nullptr) {
      op.k.add(C_row, C_extra + t * N, N, C_step);
      C_row = C_step;
    }
    op.k.selective_scan_step(x + t * Di, dt + t * Di, dt_extra ? dt_extra + t * Di : nullptr, B_row,
                           C_row, A, D, z + t * Di, Di, N, ssm, y + t * Di);
  }
}

void run_concept_memory(const Operands& op, size_t rows, float* state, float* scratch) {
  const size_t k_concepts = op.node.k;
  const size_t Dc = op.node.Dc;
  const float* write_logits = op.in(0);  // [rows, k]
  const float* value = op.in(1);         // [rows, Dc]
  const float* read_logits = op.in(2);   // [rows, k]
  const float* mix = op.in(4);           // [k, k]
  const float* retention = op.node.derived;          // [k], sigmoid(retention_logit)
  float* memory = state + op.node.state_offsets[0];  // S [k, Dc]
  float* mass = state + op.node.state_offsets[1];    // n [k]
  float* readout = op.out(0);                        // [rows, Dc]
  for (size_t t = 0; t < rows; ++t) {
    op.k.concept_memory_step(write_logits + t * k_concepts, value + t * Dc,
                           read_logits + t * k_concepts, retention, mix, k_concepts, Dc,
                           op.node.eps, memory, mass, scratch, readout + t * Dc);
  }
}

void run_gated_fusion(const Operands& op, size_t rows, float* scratch) {
  const size_t D = op.node.n;
  const float* m = op.in(0);       // [rows, D]
  const float* g = op.in(1);       // [rows, D]
  const float* weight = op.in(2);  // [D, 2D]
  const float* bias = op.in(3);    // [D]
  float* out = op.out(0);          // [rows, D]
  float* joined = scratch;               // [rows, 2D], [m ; g] per row
  float* gate_logits = scratch + rows * 2 * D;  // [rows, D]

  for (size_t t = 0; t < rows; ++t) {
    std::memcpy(joined + t * 2 * D, m + t * D, D * sizeof(float));
    std::memcpy(joined + t * 2 * D + D, g + t * D, D * sizeof(float));
  }
  op.k.linear(joined, rows, 2 * D, weight, bias, D, gate_logits);
  for (size_t t = 0; t < rows; ++t) {
    op.k.gated_mix(gate_logits + t * D, m + t * D, g + t * D, D, out + t * D);
  }
}

void run_forecast_output(const Operands& op, size_t rows) {
  const size_t C = op.node.n;
  const size_t H = op.node.H;
  const float* f = op.in(0);      // [rows, H*C], standardised, relative to the level
  const float* level = op.in(1);  // [rows, C] or nullptr
  const float* mean = op.in(2);   // [C]
  const float* scale = op.in(3);  // [C]
  float* forecast = op.out(0);    // [rows, H*C], original units
  for (size_t t = 0; t < rows; ++t) {
    for (size_t r = 0; r < H; ++r) {
      for (size_t c = 0; c < C; ++c) {
        const float shift = level ? level[t * C + c] : 0.0f;
        const size_t i = t * H * C + r * C + c;
        forecast[i] = (f[i] + shift) * scale[c] + mean[c];
      }
    }
  }
}

}  // namespace

void ExecutionPlan::execute(const kernels::KernelTable& kernel_table, size_t rows, size_t max_rows, float* arena,
                            float* state, float* scratch) const {
  for (const PlannedNode& node : nodes_) {
    const Operands op{kernel_table, tensors_, node, max_rows, arena};
    switch (node.op) {
      case OpType::kStandardize:
        run_standardize(op, rows);
        break;
      case OpType::kStreamingLevel:
        run_streaming_level(op, rows, state);
        break;
      case OpType::kLinear:
        op.k.linear(op.in(0), rows, node.in, op.in(1), op.in(2), node.n, op.out(0));
        break;
      case OpType::kRMSNorm:
        for (size_t t = 0; t < rows; ++t) {
          op.k.rmsnorm(op.in(0) + t * node.n, op.in(1), node.n, node.eps, op.out(0) + t * node.n);
        }
        break;
      case OpType::kSplit:
        run_split(op, rows);
        break;
      case OpType::kCausalConv1d:
        run_causal_conv1d(op, rows, state);
        break;
      case OpType::kSelectiveScan:
        run_selective_scan(op, rows, state, scratch);
        break;
      case OpType::kConceptMemory:
        run_concept_memory(op, rows, state, scratch);
        break;
      case OpType::kGatedFusion:
        run_gated_fusion(op, rows, scratch);
        break;
      case OpType::kAdd:
        op.k.add(op.in(0), op.in(1), rows * node.n, op.out(0));
        break;
      case OpType::kForecastOutput:
        run_forecast_output(op, rows);
        break;
      case OpType::kEmbedding: {
        const float* ids = op.in(0);    // [rows, 1], integral ids below V (checked by the session)
        const float* table = op.in(1);  // [V, D]
        float* out = op.out(0);         // [rows, D]
        for (size_t t = 0; t < rows; ++t) {
          const auto id = static_cast<size_t>(ids[t]);
          std::memcpy(out + t * node.n, table + id * node.n, node.n * sizeof(float));
        }
        break;
      }
    }
  }
}

}  // namespace infomamba
