// Float32 compute kernels of the InfoMamba runtime.
//
// Every kernel exists twice with the same signature and contract: `scalar::` is
// the plain C++ reference, `simd::` the xsimd implementation for the instruction
// set this library was compiled for. Tests compare each pair. The runtime calls
// `active::`, an alias of `simd::`.
//
// Conventions: pointers are non-null unless marked optional, buffers do not
// alias unless stated, matrices are row-major, and no kernel allocates memory.
// Shapes use the model's notation: D model width, Di inner width, N SSM state
// size, K conv width, k concepts, Dc concept width.
#pragma once

#include <cstddef>

namespace infomamba::kernels {

// Scratch floats that concept_memory_step needs for k concepts of width Dc.
inline constexpr size_t concept_scratch_floats(size_t k, size_t Dc) { return 3 * k + k * Dc; }

namespace scalar {

// y[r, o] = sum_i weight[o, i] * x[r, i] + bias[o] for r < rows.
// x [rows, in], weight [out, in], bias [out] (optional), y [rows, out].
void linear(const float* x, size_t rows, size_t in, const float* weight, const float* bias,
            size_t out, float* y);

// y = weight * x / sqrt(mean(x^2) + eps) over one row of n values. y may alias x.
void rmsnorm(const float* x, const float* weight, size_t n, float eps, float* y);

// In place: x * sigmoid(x).
void silu(float* x, size_t n);
// In place: 1 / (1 + exp(-x)).
void sigmoid(float* x, size_t n);
// In place: log(1 + exp(x)), or x itself where x > 20 (the PyTorch threshold).
void softplus(float* x, size_t n);
// In place: exp(x - max x) / sum(exp(x - max x)).
void softmax(float* x, size_t n);
// out = a + b. out may alias a or b.
void add(const float* a, const float* b, size_t n, float* out);

// One step of a depthwise causal convolution.
// window [K-1, channels] contains the previous K-1 inputs, oldest row first. On
// return it contains the newest K-1 inputs, x included. weight [channels, K],
// where tap K-1 multiplies x. y = taps + bias, then SiLU when apply_silu is set.
void causal_conv1d_step(const float* x, float* window, const float* weight, const float* bias,
                        size_t channels, size_t K, bool apply_silu, float* y);

// One step of the Mamba-1 selective scan over Di channels of N states:
//   dt[c]     = softplus(dt_raw[c] + dt_extra[c])      dt_extra optional
//   ssm[c, j] = exp(dt[c] * A[c, j]) * ssm[c, j] + dt[c] * x[c] * B[j]
//   y[c]      = (sum_j ssm[c, j] * C[j] + D[c] * x[c]) * silu(z[c])
// x, dt_raw, D, z, y [Di]; B, C [N]; A [Di, N] is already -exp(A_log);
// ssm [Di, N] is read and updated.
void selective_scan_step(const float* x, const float* dt_raw, const float* dt_extra,
                         const float* B, const float* C, const float* A, const float* D,
                         const float* z, size_t Di, size_t N, float* ssm, float* y);

// One step of the concept-bottleneck linear filter:
//   a = softmax(write_logits), q = softmax(read_logits)
//   memory[j, :] = retention[j] * memory[j, :] + a[j] * value
//   mass[j]      = retention[j] * mass[j] + a[j]
//   M[j, :]      = memory[j, :] / (mass[j] + eps), then M = M + mix * M
//   readout      = M^T q
// Shapes: write_logits, read_logits and retention [k], with the sigmoid already
// applied to retention. value and readout [Dc], mix [k, k]. memory [k, Dc] and
// mass [k] are read and updated. scratch has concept_scratch_floats(k, Dc) floats.
void concept_memory_step(const float* write_logits, const float* value,
                         const float* read_logits, const float* retention, const float* mix,
                         size_t k, size_t Dc, float eps, float* memory, float* mass,
                         float* scratch, float* readout);

// out = gamma * m + (1 - gamma) * g with gamma = sigmoid(gate_logits), n values.
void gated_mix(const float* gate_logits, const float* m, const float* g, size_t n, float* out);

}  // namespace scalar

// The same kernels, vectorized with xsimd. Contracts are those of scalar::.
namespace simd {

void linear(const float* x, size_t rows, size_t in, const float* weight, const float* bias,
            size_t out, float* y);
void rmsnorm(const float* x, const float* weight, size_t n, float eps, float* y);
void silu(float* x, size_t n);
void sigmoid(float* x, size_t n);
void softplus(float* x, size_t n);
void softmax(float* x, size_t n);
void add(const float* a, const float* b, size_t n, float* out);
void causal_conv1d_step(const float* x, float* window, const float* weight, const float* bias,
                        size_t channels, size_t K, bool apply_silu, float* y);
void selective_scan_step(const float* x, const float* dt_raw, const float* dt_extra,
                         const float* B, const float* C, const float* A, const float* D,
                         const float* z, size_t Di, size_t N, float* ssm, float* y);
void concept_memory_step(const float* write_logits, const float* value,
                         const float* read_logits, const float* retention, const float* mix,
                         size_t k, size_t Dc, float eps, float* memory, float* mass,
                         float* scratch, float* readout);
void gated_mix(const float* gate_logits, const float* m, const float* g, size_t n, float* out);

// Returns the name of the xsimd architecture these kernels were compiled for.
const char* arch_name();

}  // namespace simd

namespace active = simd;

// One implementation of every kernel, for code that picks the implementation
// at run time: sessions (SIMD by default, scalar on request), tests and
// benchmarks that compare the two.
struct KernelTable {
  const char* name;
  decltype(&scalar::linear) linear;
  decltype(&scalar::rmsnorm) rmsnorm;
  decltype(&scalar::silu) silu;
  decltype(&scalar::sigmoid) sigmoid;
  decltype(&scalar::softplus) softplus;
  decltype(&scalar::softmax) softmax;
  decltype(&scalar::add) add;
  decltype(&scalar::causal_conv1d_step) causal_conv1d_step;
  decltype(&scalar::selective_scan_step) selective_scan_step;
  decltype(&scalar::concept_memory_step) concept_memory_step;
  decltype(&scalar::gated_mix) gated_mix;
};

const KernelTable& scalar_kernels();
const KernelTable& simd_kernels();

}  // namespace infomamba::kernels
