// Reference kernels: plain loops that follow the definitions in kernels.h line
// by line. Sums over a row accumulate in double so that the reference is the
// more accurate side when tests compare it with simd::.
#include <cmath>
#include <cstring>

#include "infomamba/kernels/kernels.h"

namespace infomamba::kernels::scalar {

namespace {

float sigmoid_one(float x) {
  // Both branches evaluate exp of a non-positive number, so neither overflows.
  if (x >= 0.0f) {
    return 1.0f / (1.0f + std::exp(-x));
  }
  const float e = std::exp(x);
  return e / (1.0f + e);
}

float softplus_one(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

}  // namespace

void linear(const float* x, size_t rows, size_t in, const float* weight, const float* bias,
            size_t out, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * in;
    for (size_t o = 0; o < out; ++o) {
      const float* wo = weight + o * in;
      double sum = bias != nullptr ? bias[o] : 0.0;
      for (size_t i = 0; i < in; ++i) {
        sum += static_cast<double>(wo[i]) * xr[i];
      }
      y[r * out + o] = static_cast<float>(sum);
    }
  }
}

void rmsnorm(const float* x, const float* weight, size_t n, float eps, float* y) {
  double sum_squares = 0.0;
  for (size_t i = 0; i < n; ++i) {
    sum_squares += static_cast<double>(x[i]) * x[i];
  }
  const double scale = 1.0 / std::sqrt(sum_squares / static_cast<double>(n) + eps);
  for (size_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(weight[i] * (x[i] * scale));
  }
}

void silu(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    x[i] = x[i] * sigmoid_one(x[i]);
  }
}

void sigmoid(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    x[i] = sigmoid_one(x[i]);
  }
}

void softplus(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    x[i] = softplus_one(x[i]);
  }
}

void softmax(float* x, size_t n) {
  if (n == 0) {
    return;
  }
  float max_value = x[0];
  for (size_t i = 1; i < n; ++i) {
    max_value = std::fmax(max_value, x[i]);
  }
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const double inverse_sum = 1.0 / sum;
  for (size_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(x[i] * inverse_sum);
  }
}

void add(const float* a, const float* b, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    out[i] = a[i] + b[i];
  }
}

void causal_conv1d_step(const float* x, float* window, const float* weight, const float* bias,
                        size_t channels, size_t K, bool apply_silu, float* y) {
  // window [K-1, channels], weight [channels, K]
  for (size_t c = 0; c < channels; ++c) {
    const float* wc = weight + c * K;
    double sum = bias[c];
    for (size_t j = 0; j + 1 < K; ++j) {
      sum += static_cast<double>(wc[j]) * window[j * channels + c];
    }
    sum += static_cast<double>(wc[K - 1]) * x[c];
    const float value = static_cast<float>(sum);
    y[c] = apply_silu ? value * sigmoid_one(value) : value;
  }

  // Drop the oldest row and append x as the newest.
  if (K >= 2) {
    std::memmove(window, window + channels, (K - 2) * channels * sizeof(float));
    std::memcpy(window + (K - 2) * channels, x, channels * sizeof(float));
  }
}

void selective_scan_step(const float* x, const float* dt_raw, const float* dt_extra, const float* B,
                         const float* C, const float* A, const float* D, const float* z, size_t Di,
                         size_t N, float* ssm, float* y) {
  for (size_t c = 0; c < Di; ++c) {
    const float dt = softplus_one(dt_raw[c] + (dt_extra != nullptr ? dt_extra[c] : 0.0f));
    const float dt_x = dt * x[c];
    float* state = ssm + c * N;  // [N]
    const float* a = A + c * N;  // [N]
    double sum = 0.0;
    for (size_t j = 0; j < N; ++j) {
      state[j] = std::exp(dt * a[j]) * state[j] + dt_x * B[j];
      sum += static_cast<double>(state[j]) * C[j];
    }
    const float out = static_cast<float>(sum + static_cast<double>(D[c]) * x[c]);
    y[c] = out * (z[c] * sigmoid_one(z[c]));
  }
}

void concept_memory_step(const float* write_logits, const float* value, const float* read_logits,
                         const float* retention, const float* mix, size_t k, size_t Dc, float eps,
                         float* memory, float* mass, float* scratch, float* readout) {
  float* a = scratch;                     // [k]
  float* q = scratch + k;                 // [k]
  float* concept_mean = scratch + 3 * k;  // [k, Dc]

  std::memcpy(a, write_logits, k * sizeof(float));
  softmax(a, k);
  std::memcpy(q, read_logits, k * sizeof(float));
  softmax(q, k);

  // memory [k, Dc], mass [k]
  for (size_t j = 0; j < k; ++j) {
    for (size_t d = 0; d < Dc; ++d) {
      memory[j * Dc + d] = retention[j] * memory[j * Dc + d] + a[j] * value[d];
    }
    mass[j] = retention[j] * mass[j] + a[j];
  }

  for (size_t j = 0; j < k; ++j) {
    for (size_t d = 0; d < Dc; ++d) {
      concept_mean[j * Dc + d] = memory[j * Dc + d] / (mass[j] + eps);
    }
  }

  // readout[d] = sum_j q[j] * (M[j, d] + sum_l mix[j, l] * M[l, d])
  for (size_t d = 0; d < Dc; ++d) {
    double sum = 0.0;
    for (size_t j = 0; j < k; ++j) {
      double mixed = concept_mean[j * Dc + d];
      for (size_t l = 0; l < k; ++l) {
        mixed += static_cast<double>(mix[j * k + l]) * concept_mean[l * Dc + d];
      }
      sum += q[j] * mixed;
    }
    readout[d] = static_cast<float>(sum);
  }
}

void gated_mix(const float* gate_logits, const float* m, const float* g, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float gamma = sigmoid_one(gate_logits[i]);
    out[i] = gamma * m[i] + (1.0f - gamma) * g[i];
  }
}

}  // namespace infomamba::kernels::scalar
