// Vectorized kernels on xsimd batches of the widest instruction set the
// compiler targets (xsimd::default_arch: AVX-512 with -march=native on an
// AVX-512 machine, SSE2 on a plain x86-64 build).
//
// A row whose length is not a multiple of the batch width W ends with one
// partial batch: lanes past the end are neither read nor written and enter the
// arithmetic as zeros. AVX-512 and AVX use masked loads and stores for this,
// other instruction sets copy through a stack buffer.

// GCC 12 reports the deliberately undefined registers of AVX-512 intrinsics
// (_mm512_undefined_ps) as uninitialized once they are inlined here. These
// warnings point into the compiler's own headers, so they are disabled there.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <xsimd/xsimd.hpp>
#if XSIMD_WITH_AVX512F || XSIMD_WITH_AVX
#include <immintrin.h>
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "infomamba/kernels/kernels.h"

namespace infomamba::kernels::simd {

namespace {

// Forces inlining of the small helpers that take batches by pointer or
// reference, so that accumulator arrays stay in registers.
#define IMB_ALWAYS_INLINE [[gnu::always_inline]] inline

using Batch = xsimd::batch<float>;
using BatchMask = xsimd::batch_bool<float>;
using IndexBatch = xsimd::batch<int32_t>;

// Floats per batch: 16 on AVX-512, 8 on AVX, 4 on SSE and NEON.
constexpr size_t W = Batch::size;
static_assert(W <= 16, "lane tables below hold at most 16 lanes");

// ---------------------------------------------------------------------------
// Partial batches: lanes [0, n) of a row, for 0 < n < W.

#if XSIMD_WITH_AVX512F
static_assert(W == 16, "with AVX-512F enabled xsimd is expected to pick a 512-bit batch");

IMB_ALWAYS_INLINE __mmask16 first_lanes(size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

IMB_ALWAYS_INLINE Batch load_partial(const float* p, size_t n) {
  return Batch(_mm512_maskz_loadu_ps(first_lanes(n), p));
}

IMB_ALWAYS_INLINE void store_partial(float* p, const Batch& v, size_t n) {
  _mm512_mask_storeu_ps(p, first_lanes(n), v);
}

#elif XSIMD_WITH_AVX
static_assert(W == 8, "with AVX enabled xsimd is expected to pick a 256-bit batch");

// Eight all-ones lanes then eight zero lanes: loading at offset 8 - n gives a
// mask of the first n lanes.
alignas(64) constexpr int32_t kLaneMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                    0,  0,  0,  0,  0,  0,  0,  0};

IMB_ALWAYS_INLINE __m256i first_lanes(size_t n) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMaskTable + 8 - n));
}

IMB_ALWAYS_INLINE Batch load_partial(const float* p, size_t n) {
  return Batch(_mm256_maskload_ps(p, first_lanes(n)));
}

IMB_ALWAYS_INLINE void store_partial(float* p, const Batch& v, size_t n) {
  _mm256_maskstore_ps(p, first_lanes(n), v);
}

#else

IMB_ALWAYS_INLINE Batch load_partial(const float* p, size_t n) {
  alignas(64) float buffer[W] = {};
  std::memcpy(buffer, p, n * sizeof(float));
  return Batch::load_aligned(buffer);
}

IMB_ALWAYS_INLINE void store_partial(float* p, const Batch& v, size_t n) {
  alignas(64) float buffer[W];
  v.store_aligned(buffer);
  std::memcpy(p, buffer, n * sizeof(float));
}

#endif

// Returns base[offsets[l]] in lane l. In an AVX-512 build, xsimd 8.1.0's
// batch::gather takes its generic path of one scalar load per lane, so
// AVX-512 and AVX2 call the hardware gather instead.
IMB_ALWAYS_INLINE Batch gather(const float* base, const IndexBatch& offsets) {
#if XSIMD_WITH_AVX512F
  return Batch(_mm512_i32gather_ps(offsets, base, sizeof(float)));
#elif XSIMD_WITH_AVX2
  return Batch(_mm256_i32gather_ps(base, offsets, sizeof(float)));
#else
  return Batch::gather(base, offsets);
#endif
}

// True in lanes [0, n).
IMB_ALWAYS_INLINE BatchMask first_lanes_mask(size_t n) {
  alignas(64) static constexpr float kLaneIndex[16] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                       8, 9, 10, 11, 12, 13, 14, 15};
  return Batch::load_aligned(kLaneIndex) < Batch(static_cast<float>(n));
}

float horizontal_max(const Batch& v) {
  alignas(64) float lanes[W];
  v.store_aligned(lanes);
  float result = lanes[0];
  for (size_t l = 1; l < W; ++l) {
    result = std::fmax(result, lanes[l]);
  }
  return result;
}

// Returns the batch whose lane i is the sum of the lanes of rows[i], for W
// batches rows[0 .. W).
#if XSIMD_WITH_AVX512F
// xsimd 8.1.0's haddp for AVX-512 returns the sums in a permuted lane order
// (rows 2, 3 swapped with 4, 5, and so on), so this reduction is written out.
// Three levels of shuffles and adds: 512 -> 256 -> 128 bits per row, grouping
// rows g, g+4, g+8, g+12 in the 128-bit blocks of u[g], then 128 -> 32 bits
// with in-block shuffles, which leaves row 4j + i in lane 4j + i.
IMB_ALWAYS_INLINE Batch sum_each_batch(const Batch* rows) {
  auto fold_pairs = [](__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  };
  __m512 u[4];
  for (int g = 0; g < 4; ++g) {
    const __m512 s = fold_pairs(rows[g], rows[g + 4]);       // [row g x2 blocks, row g+4 x2 blocks]
    const __m512 t = fold_pairs(rows[g + 8], rows[g + 12]);  // [row g+8 x2, row g+12 x2]
    u[g] = _mm512_add_ps(_mm512_shuffle_f32x4(s, t, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(s, t, _MM_SHUFFLE(3, 1, 3, 1)));
  }
  auto fold_within_blocks = [](__m512 a, __m512 b) {
    return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
  };
  return Batch(fold_within_blocks(fold_within_blocks(u[0], u[1]), fold_within_blocks(u[2], u[3])));
}
#else
IMB_ALWAYS_INLINE Batch sum_each_batch(const Batch* rows) { return xsimd::haddp(rows); }
#endif

// ---------------------------------------------------------------------------
// Element-wise functions of one batch.

// exp is only taken of -|x|, so it cannot overflow. The x < 0 branch uses
// e / (1 + e) to keep full relative precision for tiny results.
Batch sigmoid_batch(const Batch& x) {
  const Batch e = xsimd::exp(-xsimd::abs(x));
  const Batch r = Batch(1.0f) / (Batch(1.0f) + e);
  return xsimd::select(x >= Batch(0.0f), r, e * r);
}

// exp overflows to inf for x > 88, but those lanes take x through the select.
Batch softplus_batch(const Batch& x) {
  const Batch threshold(20.0f);
  return xsimd::select(x > threshold, x, xsimd::log1p(xsimd::exp(x)));
}

Batch silu_batch(const Batch& x) { return x * sigmoid_batch(x); }

// Applies f to each of n floats in place.
template <class F>
void map_in_place(float* x, size_t n, F f) {
  size_t i = 0;
  for (; i + W <= n; i += W) {
    f(Batch::load_unaligned(x + i)).store_unaligned(x + i);
  }
  if (i < n) {
    store_partial(x + i, f(load_partial(x + i, n - i)), n - i);
  }
}

// ---------------------------------------------------------------------------
// Linear.

// Output rows per tile in a matrix-vector product: one batch of sums, and at
// least 8 independent accumulator chains to hide the FMA latency.
constexpr size_t kMatvecTile = W >= 8 ? W : 8;
// Tile of a matrix-matrix product: kChunkRows input rows by kChunkOutputs
// output rows, so each weight batch loaded serves kChunkRows rows of x. Its
// kChunkRows * kChunkOutputs accumulators fit the register file (32 on
// AVX-512, 16 on AVX and SSE).
constexpr size_t kChunkRows = W >= 16 ? 4 : 2;
constexpr size_t kChunkOutputs = 4;

// Computes sums[r * OUTPUTS + o] = dot(x[r, :], weight[o, :]) for an
// ROWS x OUTPUTS tile. x [ROWS, in], weight [OUTPUTS, in].
template <size_t ROWS, size_t OUTPUTS>
void dot_tile(const float* x, size_t in, const float* weight, float* sums) {
  constexpr size_t kTile = ROWS * OUTPUTS;
  Batch acc[kTile];
#pragma GCC unroll 64
  for (Batch& a : acc) {
    a = Batch(0.0f);
  }

  // One step over W (or fewer, at the end of the row) columns starting at i.
  auto step = [&](size_t i, auto load) {
    Batch xb[ROWS];
#pragma GCC unroll 64
    for (size_t r = 0; r < ROWS; ++r) {
      xb[r] = load(x + r * in + i);
    }
#pragma GCC unroll 64
    for (size_t o = 0; o < OUTPUTS; ++o) {
      Batch wb = load(weight + o * in + i);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
      if constexpr (ROWS > 1) {
        // Keeps wb in a register. Without this GCC 12 folds the load into
        // each of the ROWS FMAs and loads the same weights ROWS times, which
        // made the rows=64 benchmarks about 20% slower on an AMD EPYC (Zen 4).
        asm("" : "+v"(wb.data));
      }
#endif
#pragma GCC unroll 64
      for (size_t r = 0; r < ROWS; ++r) {
        acc[r * OUTPUTS + o] = xsimd::fma(xb[r], wb, acc[r * OUTPUTS + o]);
      }
    }
  };

  size_t i = 0;
  for (; i + W <= in; i += W) {
    step(i, [](const float* p) { return Batch::load_unaligned(p); });
  }
  if (i < in) {
    const size_t rest = in - i;
    step(i, [rest](const float* p) { return load_partial(p, rest); });
  }

  if constexpr (kTile % W == 0) {
#pragma GCC unroll 64
    for (size_t g = 0; g < kTile; g += W) {
      sum_each_batch(acc + g).store_unaligned(sums + g);
    }
  } else {
#pragma GCC unroll 64
    for (size_t t = 0; t < kTile; ++t) {
      sums[t] = xsimd::hadd(acc[t]);
    }
  }
}

// y [out] = weight [out, in] x [in] + bias [out] (bias optional).
void matvec(const float* x, size_t in, const float* weight, const float* bias, size_t out,
            float* y) {
  alignas(64) float sums[kMatvecTile];
  size_t o = 0;
  for (; o + kMatvecTile <= out; o += kMatvecTile) {
    dot_tile<1, kMatvecTile>(x, in, weight + o * in, sums);
    for (size_t g = 0; g < kMatvecTile; g += W) {
      Batch s = Batch::load_aligned(sums + g);
      if (bias != nullptr) {
        s += Batch::load_unaligned(bias + o + g);
      }
      s.store_unaligned(y + o + g);
    }
  }
  for (; o + 4 <= out; o += 4) {
    dot_tile<1, 4>(x, in, weight + o * in, sums);
    for (size_t t = 0; t < 4; ++t) {
      y[o + t] = sums[t] + (bias != nullptr ? bias[o + t] : 0.0f);
    }
  }
  for (; o < out; ++o) {
    dot_tile<1, 1>(x, in, weight + o * in, sums);
    y[o] = sums[0] + (bias != nullptr ? bias[o] : 0.0f);
  }
}

// Tiled product of kChunkRows rows of x with every weight row.
// x [kChunkRows, in], y [kChunkRows, out].
void linear_row_block(const float* x, size_t in, const float* weight, const float* bias, size_t out,
                      float* y) {
  alignas(64) float sums[kChunkRows * kChunkOutputs];
  size_t o = 0;
  for (; o + kChunkOutputs <= out; o += kChunkOutputs) {
    dot_tile<kChunkRows, kChunkOutputs>(x, in, weight + o * in, sums);
    for (size_t r = 0; r < kChunkRows; ++r) {
      for (size_t t = 0; t < kChunkOutputs; ++t) {
        y[r * out + o + t] = sums[r * kChunkOutputs + t] + (bias != nullptr ? bias[o + t] : 0.0f);
      }
    }
  }
  for (; o < out; ++o) {
    dot_tile<kChunkRows, 1>(x, in, weight + o * in, sums);
    for (size_t r = 0; r < kChunkRows; ++r) {
      y[r * out + o] = sums[r] + (bias != nullptr ? bias[o] : 0.0f);
    }
  }
}

// ---------------------------------------------------------------------------
// Concept memory.

// Columns of concept memory processed together: NB batches of W columns,
// each with its own readout accumulator.
constexpr size_t kConceptColumnBatches = 4;

// Updates memory[:, d0 : d0 + NB * W] and writes the same columns of readout,
// readout = sum_j coef[j] * memory[j, :]. memory [k, Dc].
template <size_t NB>
void concept_columns(const float* a, const float* coef, const float* retention, const float* value,
                     size_t k, size_t Dc, size_t d0, float* memory, float* readout) {
  Batch v[NB];
  Batch acc[NB];
  for (size_t b = 0; b < NB; ++b) {
    v[b] = Batch::load_unaligned(value + d0 + b * W);
    acc[b] = Batch(0.0f);
  }
  for (size_t j = 0; j < k; ++j) {
    const Batch rho(retention[j]);
    const Batch aj(a[j]);
    const Batch cj(coef[j]);
    float* row = memory + j * Dc + d0;
    for (size_t b = 0; b < NB; ++b) {
      const Batch m = xsimd::fma(rho, Batch::load_unaligned(row + b * W), aj * v[b]);
      m.store_unaligned(row + b * W);
      acc[b] = xsimd::fma(cj, m, acc[b]);
    }
  }
  for (size_t b = 0; b < NB; ++b) {
    acc[b].store_unaligned(readout + d0 + b * W);
  }
}

// concept_columns for the last n < W columns.
void concept_columns_partial(const float* a, const float* coef, const float* retention,
                             const float* value, size_t k, size_t Dc, size_t d0, size_t n,
                             float* memory, float* readout) {
  const Batch v = load_partial(value + d0, n);
  Batch acc(0.0f);
  for (size_t j = 0; j < k; ++j) {
    float* row = memory + j * Dc + d0;
    const Batch m = xsimd::fma(Batch(retention[j]), load_partial(row, n), Batch(a[j]) * v);
    store_partial(row, m, n);
    acc = xsimd::fma(Batch(coef[j]), m, acc);
  }
  store_partial(readout + d0, acc, n);
}

#undef IMB_ALWAYS_INLINE

}  // namespace

const char* arch_name() { return xsimd::default_arch::name(); }

void linear(const float* x, size_t rows, size_t in, const float* weight, const float* bias,
            size_t out, float* y) {
  size_t r = 0;
  if (rows > 1) {
    for (; r + kChunkRows <= rows; r += kChunkRows) {
      linear_row_block(x + r * in, in, weight, bias, out, y + r * out);
    }
  }
  for (; r < rows; ++r) {
    matvec(x + r * in, in, weight, bias, out, y + r * out);
  }
}

void rmsnorm(const float* x, const float* weight, size_t n, float eps, float* y) {
  Batch acc0(0.0f);
  Batch acc1(0.0f);
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const Batch x0 = Batch::load_unaligned(x + i);
    const Batch x1 = Batch::load_unaligned(x + i + W);
    acc0 = xsimd::fma(x0, x0, acc0);
    acc1 = xsimd::fma(x1, x1, acc1);
  }
  for (; i + W <= n; i += W) {
    const Batch x0 = Batch::load_unaligned(x + i);
    acc0 = xsimd::fma(x0, x0, acc0);
  }
  if (i < n) {
    const Batch x0 = load_partial(x + i, n - i);
    acc1 = xsimd::fma(x0, x0, acc1);
  }
  const float sum_squares = xsimd::hadd(acc0 + acc1);
  const Batch scale(1.0f / std::sqrt(sum_squares / static_cast<float>(n) + eps));

  // y may alias x: each batch of x is read before the same batch of y is written.
  i = 0;
  for (; i + W <= n; i += W) {
    const Batch result = Batch::load_unaligned(weight + i) * (Batch::load_unaligned(x + i) * scale);
    result.store_unaligned(y + i);
  }
  if (i < n) {
    const size_t rest = n - i;
    store_partial(y + i, load_partial(weight + i, rest) * (load_partial(x + i, rest) * scale),
                  rest);
  }
}

void silu(float* x, size_t n) { map_in_place(x, n, silu_batch); }

void sigmoid(float* x, size_t n) { map_in_place(x, n, sigmoid_batch); }

void softplus(float* x, size_t n) { map_in_place(x, n, softplus_batch); }

void softmax(float* x, size_t n) {
  if (n == 0) {
    return;
  }

  // max
  Batch max_batch(-std::numeric_limits<float>::infinity());
  size_t i = 0;
  for (; i + W <= n; i += W) {
    max_batch = xsimd::max(max_batch, Batch::load_unaligned(x + i));
  }
  float max_value = horizontal_max(max_batch);
  for (; i < n; ++i) {
    max_value = std::fmax(max_value, x[i]);
  }

  // exp(x - max) and its sum
  const Batch shift(max_value);
  Batch sum(0.0f);
  i = 0;
  for (; i + W <= n; i += W) {
    const Batch e = xsimd::exp(Batch::load_unaligned(x + i) - shift);
    e.store_unaligned(x + i);
    sum += e;
  }
  if (i < n) {
    const size_t rest = n - i;
    const Batch e = xsimd::exp(load_partial(x + i, rest) - shift);
    store_partial(x + i, e, rest);
    sum += xsimd::select(first_lanes_mask(rest), e, Batch(0.0f));
  }

  const Batch inverse_sum(1.0f / xsimd::hadd(sum));
  map_in_place(x, n, [&](const Batch& e) { return e * inverse_sum; });
}

void add(const float* a, const float* b, size_t n, float* out) {
  size_t i = 0;
  for (; i + W <= n; i += W) {
    (Batch::load_unaligned(a + i) + Batch::load_unaligned(b + i)).store_unaligned(out + i);
  }
  if (i < n) {
    const size_t rest = n - i;
    store_partial(out + i, load_partial(a + i, rest) + load_partial(b + i, rest), rest);
  }
}

void causal_conv1d_step(const float* x, float* window, const float* weight, const float* bias,
                        size_t channels, size_t K, bool apply_silu, float* y) {
  // window [K-1, channels], weight [channels, K]: the taps of W consecutive
  // channels are K floats apart, so they are gathered.
  auto gather_offsets = [K](size_t lanes) {
    alignas(64) int32_t offsets[W];
    for (size_t l = 0; l < W; ++l) {
      offsets[l] = l < lanes ? static_cast<int32_t>(l * K) : 0;
    }
    return IndexBatch::load_aligned(offsets);
  };

  // One batch of up to W channels starting at c, each load through `load`.
  auto step = [&](size_t c, const IndexBatch& offsets, auto load) {
    const float* wc = weight + c * K;
    Batch acc = load(bias + c);
    for (size_t j = 0; j + 1 < K; ++j) {
      acc = xsimd::fma(gather(wc + j, offsets), load(window + j * channels + c), acc);
    }
    acc = xsimd::fma(gather(wc + K - 1, offsets), load(x + c), acc);
    return apply_silu ? silu_batch(acc) : acc;
  };

  const IndexBatch full_offsets = gather_offsets(W);
  size_t c = 0;
  for (; c + W <= channels; c += W) {
    step(c, full_offsets, [](const float* p) {
      return Batch::load_unaligned(p);
    }).store_unaligned(y + c);
  }
  if (c < channels) {
    // Lanes past the last channel gather tap 0 of channel c, which exists.
    const size_t rest = channels - c;
    const Batch result =
        step(c, gather_offsets(rest), [rest](const float* p) { return load_partial(p, rest); });
    store_partial(y + c, result, rest);
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
  // Channels go in groups of W, and the per-channel quantities (dt, x, D, z)
  // are one batch per group. The recurrence runs along the N contiguous states
  // of each channel. One sum_each_batch then folds the group's W partial sums
  // of ssm[c, :] * C into one batch.
  for (size_t c0 = 0; c0 < Di; c0 += W) {
    const size_t group = std::min(W, Di - c0);
    auto load = [group](const float* p) {
      return group == W ? Batch::load_unaligned(p) : load_partial(p, group);
    };

    Batch dt = load(dt_raw + c0);
    if (dt_extra != nullptr) {
      dt += load(dt_extra + c0);
    }
    dt = softplus_batch(dt);
    const Batch xb = load(x + c0);
    alignas(64) float dt_lanes[W];
    alignas(64) float dt_x_lanes[W];
    dt.store_aligned(dt_lanes);
    (dt * xb).store_aligned(dt_x_lanes);

    Batch sums[W];
    for (size_t g = 0; g < W; ++g) {
      sums[g] = Batch(0.0f);
    }
    for (size_t g = 0; g < group; ++g) {
      const size_t c = c0 + g;
      const Batch dt_c(dt_lanes[g]);
      const Batch dt_x_c(dt_x_lanes[g]);
      float* state = ssm + c * N;  // [N]
      const float* a = A + c * N;  // [N]
      Batch sum(0.0f);
      size_t j = 0;
      for (; j + W <= N; j += W) {
        const Batch decay = xsimd::exp(dt_c * Batch::load_unaligned(a + j));
        const Batch s = xsimd::fma(decay, Batch::load_unaligned(state + j),
                                   dt_x_c * Batch::load_unaligned(B + j));
        s.store_unaligned(state + j);
        sum = xsimd::fma(s, Batch::load_unaligned(C + j), sum);
      }
      if (j < N) {
        // Padding lanes have A = 0, state = 0 and B = 0, so s = 0 there.
        const size_t rest = N - j;
        const Batch decay = xsimd::exp(dt_c * load_partial(a + j, rest));
        const Batch s =
            xsimd::fma(decay, load_partial(state + j, rest), dt_x_c * load_partial(B + j, rest));
        store_partial(state + j, s, rest);
        sum = xsimd::fma(s, load_partial(C + j, rest), sum);
      }
      sums[g] = sum;
    }

    const Batch zb = load(z + c0);
    const Batch result = xsimd::fma(load(D + c0), xb, sum_each_batch(sums)) * silu_batch(zb);
    if (group == W) {
      result.store_unaligned(y + c0);
    } else {
      store_partial(y + c0, result, group);
    }
  }
}

void concept_memory_step(const float* write_logits, const float* value, const float* read_logits,
                         const float* retention, const float* mix, size_t k, size_t Dc, float eps,
                         float* memory, float* mass, float* scratch, float* readout) {
  // Uses 3k of the scratch floats. The readout is computed without forming
  // the mixed concept means: with w = q + mix^T q and coef = w / (mass + eps),
  //   (M + mix M)^T q = M^T w = sum_l coef[l] * memory[l, :],
  // which costs O(k^2 + k Dc) instead of O(k^2 Dc).
  float* a = scratch;             // [k]
  float* q = scratch + k;         // [k]
  float* coef = scratch + 2 * k;  // [k]

  std::memcpy(a, write_logits, k * sizeof(float));
  softmax(a, k);
  std::memcpy(q, read_logits, k * sizeof(float));
  softmax(q, k);

  // w = q + mix^T q, accumulated row by row of mix [k, k].
  std::memcpy(coef, q, k * sizeof(float));
  for (size_t j = 0; j < k; ++j) {
    const Batch qj(q[j]);
    const float* mix_row = mix + j * k;
    size_t l = 0;
    for (; l + W <= k; l += W) {
      xsimd::fma(qj, Batch::load_unaligned(mix_row + l), Batch::load_unaligned(coef + l))
          .store_unaligned(coef + l);
    }
    if (l < k) {
      const size_t rest = k - l;
      store_partial(coef + l,
                    xsimd::fma(qj, load_partial(mix_row + l, rest), load_partial(coef + l, rest)),
                    rest);
    }
  }

  // mass [k] = retention * mass + a, then coef = w / (mass + eps).
  const Batch eps_batch(eps);
  size_t j = 0;
  for (; j + W <= k; j += W) {
    const Batch m = xsimd::fma(Batch::load_unaligned(retention + j),
                               Batch::load_unaligned(mass + j), Batch::load_unaligned(a + j));
    m.store_unaligned(mass + j);
    (Batch::load_unaligned(coef + j) / (m + eps_batch)).store_unaligned(coef + j);
  }
  if (j < k) {
    const size_t rest = k - j;
    const Batch m = xsimd::fma(load_partial(retention + j, rest), load_partial(mass + j, rest),
                               load_partial(a + j, rest));
    store_partial(mass + j, m, rest);
    // Padding lanes divide 0 by eps and are not stored.
    store_partial(coef + j, load_partial(coef + j, rest) / (m + eps_batch), rest);
  }

  // memory [k, Dc] = retention * memory + a value^T, and the readout [Dc].
  size_t d = 0;
  for (; d + kConceptColumnBatches * W <= Dc; d += kConceptColumnBatches * W) {
    concept_columns<kConceptColumnBatches>(a, coef, retention, value, k, Dc, d, memory, readout);
  }
  for (; d + W <= Dc; d += W) {
    concept_columns<1>(a, coef, retention, value, k, Dc, d, memory, readout);
  }
  if (d < Dc) {
    concept_columns_partial(a, coef, retention, value, k, Dc, d, Dc - d, memory, readout);
  }
}

void gated_mix(const float* gate_logits, const float* m, const float* g, size_t n, float* out) {
  auto mix_batch = [](const Batch& logits, const Batch& mb, const Batch& gb) {
    const Batch gamma = sigmoid_batch(logits);
    return xsimd::fma(gamma, mb, (Batch(1.0f) - gamma) * gb);
  };
  size_t i = 0;
  for (; i + W <= n; i += W) {
    mix_batch(Batch::load_unaligned(gate_logits + i), Batch::load_unaligned(m + i),
              Batch::load_unaligned(g + i))
        .store_unaligned(out + i);
  }
  if (i < n) {
    const size_t rest = n - i;
    store_partial(out + i,
                  mix_batch(load_partial(gate_logits + i, rest), load_partial(m + i, rest),
                            load_partial(g + i, rest)),
                  rest);
  }
}

}  // namespace infomamba::kernels::simd
