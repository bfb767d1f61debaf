// Tests of the float32 kernels: simd:: against the scalar:: reference on
// random inputs over tables of sizes, and both against known values and
// direct evaluations of the recurrences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "infomamba/kernels/kernels.h"

namespace kernels = infomamba::kernels;

namespace {

using Vec = std::vector<float>;

// Sizes that exercise batch tails on SSE (4), AVX (8) and AVX-512 (16) lanes.
const std::vector<size_t> kSizes = {1,  2,  3,  4,  5,  7,   8,   9,   15,  16,  17,   31,
                                    32, 33, 63, 64, 65, 100, 127, 128, 255, 256, 1000, 1024};

// Known-value tests run on both implementations.
using KernelSet = kernels::KernelTable;
const KernelSet* const kKernelSets[] = {&kernels::scalar_kernels(), &kernels::simd_kernels()};

float max_abs(const Vec& v) {
  float result = 0.0f;
  for (float value : v) {
    result = std::max(result, std::fabs(value));
  }
  return result;
}

// Uniform random values in [lo, hi); fails the test if they came out all zero.
Vec random_vector(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> distribution(lo, hi);
  Vec v(n);
  for (float& value : v) {
    value = distribution(rng);
  }
  REQUIRE(max_abs(v) > 0.0f);
  return v;
}

// Checks |actual[i] - expected[i]| <= abs_tol + rel_tol * |expected[i]| for
// every i, and reports the worst element under `label`. NaN in either vector fails.
void check_close(const Vec& expected, const Vec& actual, float abs_tol, float rel_tol,
                 const std::string& label) {
  REQUIRE(expected.size() == actual.size());
  if (expected.empty()) {
    return;
  }
  size_t worst_index = 0;
  float worst_excess = -std::numeric_limits<float>::infinity();
  bool failed = false;
  for (size_t i = 0; i < expected.size(); ++i) {
    const float error = std::fabs(actual[i] - expected[i]);
    const float tolerance = abs_tol + rel_tol * std::fabs(expected[i]);
    const bool ok = error <= tolerance;  // false when either value is NaN
    const float excess = ok ? error - tolerance : std::numeric_limits<float>::infinity();
    if (excess > worst_excess) {
      worst_excess = excess;
      worst_index = i;
    }
    failed = failed || !ok;
  }
  INFO(label << ": worst element " << worst_index << " of " << expected.size() << ", expected "
             << expected[worst_index] << ", got " << actual[worst_index] << ", abs_tol " << abs_tol
             << ", rel_tol " << rel_tol);
  CHECK_FALSE(failed);
}

float sigmoid_reference(double x) { return static_cast<float>(1.0 / (1.0 + std::exp(-x))); }

}  // namespace

TEST_CASE("simd arch name is set") {
  const std::string name = kernels::simd::arch_name();
  MESSAGE("simd kernels compiled for " << name);
  CHECK_FALSE(name.empty());
}

// ---------------------------------------------------------------------------
// simd:: against scalar:: on random inputs.

TEST_CASE("linear simd matches scalar") {
  std::mt19937 rng(101);
  const std::vector<size_t> widths = {1,  2,  3,  5,   7,   8,   9,   16,
                                      17, 33, 64, 100, 128, 256, 672, 1024};
  const std::vector<size_t> row_counts = {1, 2, 3, 4, 5, 7, 16, 17, 64};
  int cases = 0;
  for (size_t in : widths) {
    for (size_t out : widths) {
      for (size_t rows : row_counts) {
        // Keep the largest products few: they are slow in the scalar reference.
        if (in * out * rows > 4'000'000) {
          continue;
        }
        for (bool with_bias : {true, false}) {
          const Vec x = random_vector(rng, rows * in, -2.0f, 2.0f);
          const Vec weight = random_vector(rng, out * in, -1.0f, 1.0f);
          const Vec bias = random_vector(rng, out, -1.0f, 1.0f);
          const float* bias_ptr = with_bias ? bias.data() : nullptr;
          Vec expected(rows * out);
          Vec actual(rows * out);
          kernels::scalar::linear(x.data(), rows, in, weight.data(), bias_ptr, out,
                                  expected.data());
          kernels::simd::linear(x.data(), rows, in, weight.data(), bias_ptr, out, actual.data());
          const float tolerance = 4.0f * static_cast<float>(in + 1) * FLT_EPSILON *
                                  (max_abs(x) * max_abs(weight) + 1.0f);
          check_close(expected, actual, tolerance, 0.0f,
                      "linear rows " + std::to_string(rows) + " in " + std::to_string(in) +
                          " out " + std::to_string(out) +
                          (with_bias ? " with bias" : " without bias"));
          ++cases;
        }
      }
    }
  }
  CHECK(cases > 1000);
}

TEST_CASE("rmsnorm simd matches scalar") {
  std::mt19937 rng(102);
  for (size_t n : kSizes) {
    const Vec x = random_vector(rng, n, -3.0f, 3.0f);
    const Vec weight = random_vector(rng, n, 0.5f, 1.5f);
    Vec expected(n);
    Vec actual(n);
    kernels::scalar::rmsnorm(x.data(), weight.data(), n, 1e-5f, expected.data());
    kernels::simd::rmsnorm(x.data(), weight.data(), n, 1e-5f, actual.data());
    check_close(expected, actual, 0.0f, 4.0f * static_cast<float>(n + 4) * FLT_EPSILON,
                "rmsnorm n " + std::to_string(n));

    // In place: y aliases x.
    Vec in_place = x;
    kernels::simd::rmsnorm(in_place.data(), weight.data(), n, 1e-5f, in_place.data());
    check_close(actual, in_place, 0.0f, 0.0f, "rmsnorm in place n " + std::to_string(n));
  }
}

TEST_CASE("elementwise activations simd match scalar") {
  std::mt19937 rng(103);
  struct Activation {
    const char* name;
    void (*scalar)(float*, size_t);
    void (*simd)(float*, size_t);
    float lo;
    float hi;
  };
  // softplus covers both sides of its threshold at 20; sigmoid and silu reach
  // the range where exp(-|x|) is far below FLT_EPSILON.
  const Activation activations[] = {
      {"silu", kernels::scalar::silu, kernels::simd::silu, -30.0f, 30.0f},
      {"sigmoid", kernels::scalar::sigmoid, kernels::simd::sigmoid, -30.0f, 30.0f},
      {"softplus", kernels::scalar::softplus, kernels::simd::softplus, -30.0f, 40.0f},
      {"silu near 0", kernels::scalar::silu, kernels::simd::silu, -2.0f, 2.0f},
      {"softplus near 0", kernels::scalar::softplus, kernels::simd::softplus, -2.0f, 2.0f},
  };
  for (const Activation& activation : activations) {
    for (size_t n : kSizes) {
      const Vec x = random_vector(rng, n, activation.lo, activation.hi);
      Vec expected = x;
      Vec actual = x;
      activation.scalar(expected.data(), n);
      activation.simd(actual.data(), n);
      check_close(expected, actual, 1e-30f, 8.0f * FLT_EPSILON,
                  std::string(activation.name) + " n " + std::to_string(n));
    }
  }
}

TEST_CASE("softmax simd matches scalar") {
  std::mt19937 rng(104);
  for (size_t n : kSizes) {
    for (float spread : {1.0f, 30.0f}) {
      const Vec x = random_vector(rng, n, -spread, spread);
      Vec expected = x;
      Vec actual = x;
      kernels::scalar::softmax(expected.data(), n);
      kernels::simd::softmax(actual.data(), n);
      check_close(expected, actual, 1e-30f, static_cast<float>(n + 16) * FLT_EPSILON,
                  "softmax n " + std::to_string(n) + " spread " + std::to_string(spread));
    }
  }
}

TEST_CASE("add and gated_mix simd match scalar") {
  std::mt19937 rng(105);
  for (size_t n : kSizes) {
    const Vec a = random_vector(rng, n, -5.0f, 5.0f);
    const Vec b = random_vector(rng, n, -5.0f, 5.0f);
    const Vec logits = random_vector(rng, n, -10.0f, 10.0f);

    Vec expected(n);
    Vec actual(n);
    kernels::scalar::add(a.data(), b.data(), n, expected.data());
    kernels::simd::add(a.data(), b.data(), n, actual.data());
    check_close(expected, actual, 0.0f, 0.0f, "add n " + std::to_string(n));

    Vec in_place = a;
    kernels::simd::add(in_place.data(), b.data(), n, in_place.data());
    check_close(expected, in_place, 0.0f, 0.0f, "add in place n " + std::to_string(n));

    kernels::scalar::gated_mix(logits.data(), a.data(), b.data(), n, expected.data());
    kernels::simd::gated_mix(logits.data(), a.data(), b.data(), n, actual.data());
    check_close(expected, actual, 8.0f * FLT_EPSILON * (max_abs(a) + max_abs(b)), 0.0f,
                "gated_mix n " + std::to_string(n));
  }
}

TEST_CASE("causal_conv1d_step simd matches scalar") {
  std::mt19937 rng(106);
  const std::vector<size_t> channel_counts = {1, 3, 4, 8, 15, 16, 17, 33, 64, 100, 256};
  for (size_t channels : channel_counts) {
    for (size_t K : {1, 2, 3, 4, 5}) {
      for (bool apply_silu : {true, false}) {
        const Vec weight = random_vector(rng, channels * K, -1.0f, 1.0f);
        const Vec bias = random_vector(rng, channels, -1.0f, 1.0f);
        Vec window_expected = K > 1 ? random_vector(rng, (K - 1) * channels, -2.0f, 2.0f) : Vec();
        Vec window_actual = window_expected;
        // Several steps, so the shifted windows are compared as well.
        for (int step = 0; step < 3; ++step) {
          const Vec x = random_vector(rng, channels, -2.0f, 2.0f);
          Vec expected(channels);
          Vec actual(channels);
          kernels::scalar::causal_conv1d_step(x.data(), window_expected.data(), weight.data(),
                                              bias.data(), channels, K, apply_silu,
                                              expected.data());
          kernels::simd::causal_conv1d_step(x.data(), window_actual.data(), weight.data(),
                                            bias.data(), channels, K, apply_silu, actual.data());
          const std::string label = "conv channels " + std::to_string(channels) + " K " +
                                    std::to_string(K) + (apply_silu ? " silu" : "") + " step " +
                                    std::to_string(step);
          const float tolerance = 8.0f * static_cast<float>(K + 1) * FLT_EPSILON *
                                  (2.0f * static_cast<float>(K) + 1.0f);
          check_close(expected, actual, tolerance, 0.0f, label);
          check_close(window_expected, window_actual, 0.0f, 0.0f, label + " window");
        }
      }
    }
  }
}

TEST_CASE("selective_scan_step simd matches scalar") {
  std::mt19937 rng(107);
  const std::vector<size_t> channel_counts = {1, 3, 8, 16, 17, 33, 64, 256};
  const std::vector<size_t> state_sizes = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 32, 33, 64};
  for (size_t Di : channel_counts) {
    for (size_t N : state_sizes) {
      for (bool with_extra : {true, false}) {
        const Vec A_log = random_vector(rng, Di * N, 0.0f, std::log(16.0f));
        Vec A(Di * N);
        for (size_t i = 0; i < A.size(); ++i) {
          A[i] = -std::exp(A_log[i]);
        }
        const Vec D = random_vector(rng, Di, 0.5f, 1.5f);
        Vec ssm_expected = random_vector(rng, Di * N, -1.0f, 1.0f);
        Vec ssm_actual = ssm_expected;
        for (int step = 0; step < 3; ++step) {
          const Vec x = random_vector(rng, Di, -2.0f, 2.0f);
          const Vec dt_raw = random_vector(rng, Di, -5.0f, 2.0f);
          const Vec dt_extra = random_vector(rng, Di, -1.0f, 1.0f);
          const Vec B = random_vector(rng, N, -1.0f, 1.0f);
          const Vec C = random_vector(rng, N, -1.0f, 1.0f);
          const Vec z = random_vector(rng, Di, -3.0f, 3.0f);
          const float* extra = with_extra ? dt_extra.data() : nullptr;
          const float state_scale = max_abs(ssm_expected);

          Vec expected(Di);
          Vec actual(Di);
          kernels::scalar::selective_scan_step(x.data(), dt_raw.data(), extra, B.data(), C.data(),
                                               A.data(), D.data(), z.data(), Di, N,
                                               ssm_expected.data(), expected.data());
          kernels::simd::selective_scan_step(x.data(), dt_raw.data(), extra, B.data(), C.data(),
                                             A.data(), D.data(), z.data(), Di, N, ssm_actual.data(),
                                             actual.data());

          // exp(dt * A) turns a relative error e of dt into |dt * A| * e, and
          // dt <= softplus(3) < 3.1, |A| <= 16.
          const float decay_factor = 3.1f * 16.0f + 8.0f;
          const float ssm_tolerance =
              4.0f * decay_factor * FLT_EPSILON * (state_scale + 3.1f * 2.0f);
          const std::string label = "scan Di " + std::to_string(Di) + " N " + std::to_string(N) +
                                    (with_extra ? " with dt_extra" : "") + " step " +
                                    std::to_string(step);
          check_close(ssm_expected, ssm_actual, ssm_tolerance, 0.0f, label + " ssm");
          // |silu(z)| < 3 for |z| <= 3, |C| <= 1, |D x| <= 3.
          const float y_scale = (static_cast<float>(N) * max_abs(ssm_expected) + 3.0f) * 3.0f;
          const float y_tolerance = 4.0f * static_cast<float>(N + 4) * FLT_EPSILON * y_scale +
                                    3.0f * static_cast<float>(N) * ssm_tolerance;
          check_close(expected, actual, y_tolerance, 0.0f, label + " y");
        }
      }
    }
  }
}

TEST_CASE("concept_memory_step simd matches scalar") {
  std::mt19937 rng(108);
  const std::vector<size_t> concept_counts = {1, 2, 3, 5, 8, 16, 17, 32, 64};
  const std::vector<size_t> concept_widths = {1, 3, 4, 8, 16, 17, 64, 65, 128};
  for (size_t k : concept_counts) {
    for (size_t Dc : concept_widths) {
      const Vec retention_logit = random_vector(rng, k, -2.0f, 7.0f);
      Vec retention(k);
      for (size_t j = 0; j < k; ++j) {
        retention[j] = sigmoid_reference(retention_logit[j]);
      }
      const Vec mix = random_vector(rng, k * k, -0.5f, 0.5f);
      Vec memory_expected(k * Dc, 0.0f);
      Vec memory_actual(k * Dc, 0.0f);
      Vec mass_expected(k, 0.0f);
      Vec mass_actual(k, 0.0f);
      Vec scratch(kernels::concept_scratch_floats(k, Dc));
      const int steps = 5;
      for (int step = 0; step < steps; ++step) {
        const Vec write_logits = random_vector(rng, k, -3.0f, 3.0f);
        const Vec read_logits = random_vector(rng, k, -3.0f, 3.0f);
        const Vec value = random_vector(rng, Dc, -2.0f, 2.0f);
        Vec expected(Dc);
        Vec actual(Dc);
        kernels::scalar::concept_memory_step(write_logits.data(), value.data(), read_logits.data(),
                                             retention.data(), mix.data(), k, Dc, 1e-6f,
                                             memory_expected.data(), mass_expected.data(),
                                             scratch.data(), expected.data());
        kernels::simd::concept_memory_step(
            write_logits.data(), value.data(), read_logits.data(), retention.data(), mix.data(), k,
            Dc, 1e-6f, memory_actual.data(), mass_actual.data(), scratch.data(), actual.data());
        const std::string label = "concept k " + std::to_string(k) + " Dc " + std::to_string(Dc) +
                                  " step " + std::to_string(step);
        const float step_count = static_cast<float>(step + 1);
        check_close(mass_expected, mass_actual, 0.0f, 4.0f * step_count * FLT_EPSILON,
                    label + " mass");
        check_close(memory_expected, memory_actual,
                    4.0f * step_count * FLT_EPSILON * max_abs(memory_expected), 0.0f,
                    label + " memory");
        // |M| <= max|value| = 2, and the readout sums k mixed means with
        // weights of total size at most 1 + k * max|mix|.
        const float readout_scale = 2.0f * (1.0f + static_cast<float>(k) * 0.5f);
        check_close(expected, actual,
                    8.0f * static_cast<float>(k + 8) * step_count * FLT_EPSILON * readout_scale,
                    0.0f, label + " readout");
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Known values, on both implementations.

// In float32, log1p(exp(x)) already rounds to x above about 15, so these
// checks cannot tell a threshold of 15 from 20. They check the pass-through
// above 20, log1p(exp(x)) below it, and that large inputs do not overflow.
TEST_CASE("softplus threshold at 20") {
  for (const KernelSet* set : kKernelSets) {
    INFO(std::string(set->name));
    Vec x = {25.0f, 20.5f, 21.0f, 100.0f, 20.0f, 19.0f, 0.0f, -5.0f, -100.0f};
    set->softplus(x.data(), x.size());
    // Above 20 the input passes through unchanged.
    CHECK(x[0] == 25.0f);
    CHECK(x[1] == 20.5f);
    CHECK(x[2] == 21.0f);
    CHECK(x[3] == 100.0f);
    // At or below 20: log1p(exp(x)).
    CHECK(x[4] == doctest::Approx(std::log1p(std::exp(20.0))).epsilon(1e-6));
    CHECK(x[5] == doctest::Approx(std::log1p(std::exp(19.0))).epsilon(1e-6));
    CHECK(x[6] == doctest::Approx(std::log(2.0)).epsilon(1e-6));
    CHECK(x[7] == doctest::Approx(std::log1p(std::exp(-5.0))).epsilon(1e-6));
    CHECK(std::isfinite(x[8]));
    CHECK(x[8] >= 0.0f);
    CHECK(x[8] < 1e-30f);
  }
}

TEST_CASE("softmax of equal logits is uniform") {
  for (const KernelSet* set : kKernelSets) {
    for (size_t n : kSizes) {
      INFO(std::string(set->name) << " n " << n);
      // Large logits: without subtracting the max, exp overflows to inf.
      for (float logit : {0.0f, -3.0f, 1000.0f}) {
        Vec x(n, logit);
        set->softmax(x.data(), n);
        const float uniform = 1.0f / static_cast<float>(n);
        for (size_t i = 0; i < n; ++i) {
          REQUIRE(x[i] == doctest::Approx(uniform).epsilon(1e-5));
        }
      }
    }
  }
}

TEST_CASE("softmax sums to one") {
  std::mt19937 rng(109);
  for (const KernelSet* set : kKernelSets) {
    for (size_t n : kSizes) {
      INFO(std::string(set->name) << " n " << n);
      Vec x = random_vector(rng, n, -50.0f, 50.0f);
      set->softmax(x.data(), n);
      double sum = 0.0;
      for (float value : x) {
        CHECK(value >= 0.0f);
        sum += value;
      }
      CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
    }
  }
}

TEST_CASE("sigmoid and silu stay finite at large inputs") {
  for (const KernelSet* set : kKernelSets) {
    INFO(std::string(set->name));
    Vec s = {100.0f, -100.0f, 1000.0f, -1000.0f, 0.0f};
    set->sigmoid(s.data(), s.size());
    for (float value : s) {
      CHECK(std::isfinite(value));
    }
    CHECK(s[0] == 1.0f);
    CHECK(s[1] >= 0.0f);
    CHECK(s[1] < 1e-40f);
    CHECK(s[2] == 1.0f);
    CHECK(s[3] == 0.0f);
    CHECK(s[4] == 0.5f);

    Vec silu = {100.0f, -100.0f, 1000.0f, -1000.0f, 1.0f};
    set->silu(silu.data(), silu.size());
    for (float value : silu) {
      CHECK(std::isfinite(value));
    }
    CHECK(silu[0] == 100.0f);
    CHECK(std::fabs(silu[1]) < 1e-30f);
    CHECK(silu[2] == 1000.0f);
    CHECK(silu[3] == 0.0f);
    CHECK(silu[4] == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-6));
  }
}

TEST_CASE("rmsnorm of a constant vector") {
  std::mt19937 rng(110);
  for (const KernelSet* set : kKernelSets) {
    for (size_t n : kSizes) {
      INFO(std::string(set->name) << " n " << n);
      const float c = -3.0f;
      const float eps = 1e-5f;
      const Vec x(n, c);
      const Vec weight = random_vector(rng, n, 0.5f, 2.0f);
      Vec y(n);
      set->rmsnorm(x.data(), weight.data(), n, eps, y.data());
      const double scale = c / std::sqrt(static_cast<double>(c) * c + eps);
      for (size_t i = 0; i < n; ++i) {
        REQUIRE(y[i] == doctest::Approx(weight[i] * scale).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("gated_mix endpoints") {
  for (const KernelSet* set : kKernelSets) {
    INFO(std::string(set->name));
    // Gate logits of +-100 select m or g; a logit of 0 averages them.
    const Vec logits = {100.0f, -100.0f, 0.0f};
    const Vec m = {1.0f, 2.0f, 3.0f};
    const Vec g = {-1.0f, -2.0f, 5.0f};
    Vec out(3);
    set->gated_mix(logits.data(), m.data(), g.data(), 3, out.data());
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == -2.0f);
    CHECK(out[2] == 4.0f);
  }
}

TEST_CASE("linear of an identity weight") {
  for (const KernelSet* set : kKernelSets) {
    for (size_t n : {size_t{1}, size_t{3}, size_t{16}, size_t{37}}) {
      INFO(std::string(set->name) << " n " << n);
      Vec weight(n * n, 0.0f);
      Vec bias(n);
      Vec x(2 * n);
      for (size_t i = 0; i < n; ++i) {
        weight[i * n + i] = 1.0f;
        bias[i] = static_cast<float>(i);
        x[i] = static_cast<float>(i + 1);
        x[n + i] = -static_cast<float>(i + 1);
      }
      Vec y(2 * n);
      set->linear(x.data(), 2, n, weight.data(), bias.data(), n, y.data());
      for (size_t i = 0; i < n; ++i) {
        CHECK(y[i] == static_cast<float>(2 * i + 1));
        CHECK(y[n + i] == -1.0f);
      }
    }
  }
}

TEST_CASE("conv window after several steps") {
  std::mt19937 rng(111);
  const size_t channels = 19;
  for (const KernelSet* set : kKernelSets) {
    for (size_t K : {1, 2, 4, 5}) {
      INFO(std::string(set->name) << " K " << K);
      const Vec weight = random_vector(rng, channels * K, -1.0f, 1.0f);
      const Vec bias = random_vector(rng, channels, -1.0f, 1.0f);
      Vec window((K - 1) * channels, 0.0f);
      std::vector<Vec> history;
      for (size_t t = 0; t < 9; ++t) {
        history.push_back(random_vector(rng, channels, -2.0f, 2.0f));
        Vec y(channels);
        set->causal_conv1d_step(history.back().data(), window.data(), weight.data(), bias.data(),
                                channels, K, false, y.data());

        // y[c] = sum_j weight[c, j] x_{t-K+1+j}[c] + bias[c], with x = 0 before the first step.
        for (size_t c = 0; c < channels; ++c) {
          double direct = bias[c];
          for (size_t j = 0; j < K; ++j) {
            const size_t lag = K - 1 - j;
            if (lag <= t) {
              direct += static_cast<double>(weight[c * K + j]) * history[t - lag][c];
            }
          }
          REQUIRE(y[c] == doctest::Approx(direct).epsilon(1e-5).scale(1.0));
        }

        // The window contains the last K-1 inputs, oldest first.
        for (size_t row = 0; row + 1 < K; ++row) {
          const size_t lag = K - 2 - row;
          for (size_t c = 0; c < channels; ++c) {
            const float expected = lag <= t ? history[t - lag][c] : 0.0f;
            REQUIRE(window[row * channels + c] == expected);
          }
        }
      }
    }
  }
}

TEST_CASE("selective scan over several steps") {
  std::mt19937 rng(112);
  const size_t Di = 21;
  const size_t N = 13;
  const size_t steps = 12;
  for (const KernelSet* set : kKernelSets) {
    INFO(std::string(set->name));
    Vec A(Di * N);
    for (size_t c = 0; c < Di; ++c) {
      for (size_t j = 0; j < N; ++j) {
        A[c * N + j] = -static_cast<float>(j + 1);
      }
    }
    const Vec D = random_vector(rng, Di, 0.5f, 1.5f);
    Vec ssm(Di * N, 0.0f);
    std::vector<double> direct_state(Di * N, 0.0);
    for (size_t t = 0; t < steps; ++t) {
      const Vec x = random_vector(rng, Di, -2.0f, 2.0f);
      const Vec dt_raw = random_vector(rng, Di, -4.0f, 1.0f);
      const Vec dt_extra = random_vector(rng, Di, -0.5f, 0.5f);
      const Vec B = random_vector(rng, N, -1.0f, 1.0f);
      const Vec C = random_vector(rng, N, -1.0f, 1.0f);
      const Vec z = random_vector(rng, Di, -3.0f, 3.0f);
      Vec y(Di);
      set->selective_scan_step(x.data(), dt_raw.data(), dt_extra.data(), B.data(), C.data(),
                               A.data(), D.data(), z.data(), Di, N, ssm.data(), y.data());

      // Direct evaluation in double.
      for (size_t c = 0; c < Di; ++c) {
        const double raw = static_cast<double>(dt_raw[c]) + dt_extra[c];
        const double dt = raw > 20.0 ? raw : std::log1p(std::exp(raw));
        double sum = 0.0;
        for (size_t j = 0; j < N; ++j) {
          double& s = direct_state[c * N + j];
          s = std::exp(dt * A[c * N + j]) * s + dt * x[c] * B[j];
          sum += s * C[j];
          REQUIRE(ssm[c * N + j] == doctest::Approx(s).epsilon(1e-4).scale(1.0));
        }
        const double silu_z = z[c] / (1.0 + std::exp(-static_cast<double>(z[c])));
        const double direct = (sum + static_cast<double>(D[c]) * x[c]) * silu_z;
        REQUIRE(y[c] == doctest::Approx(direct).epsilon(1e-4).scale(1.0));
      }
    }
  }
}

TEST_CASE("concept memory stays bounded with retention below one") {
  std::mt19937 rng(113);
  const size_t k = 12;
  const size_t Dc = 37;
  const float value_bound = 3.0f;
  Vec retention(k);
  for (size_t j = 0; j < k; ++j) {
    // Time constants 1 / (1 - rho) from 2 to about 2000 steps.
    retention[j] =
        1.0f - 0.5f * std::pow(1000.0f, -static_cast<float>(j) / static_cast<float>(k - 1));
  }
  const Vec mix = random_vector(rng, k * k, -0.3f, 0.3f);
  float mix_row_sum = 0.0f;
  for (size_t j = 0; j < k; ++j) {
    float row_sum = 0.0f;
    for (size_t l = 0; l < k; ++l) {
      row_sum += std::fabs(mix[j * k + l]);
    }
    mix_row_sum = std::max(mix_row_sum, row_sum);
  }

  for (const KernelSet* set : kKernelSets) {
    INFO(std::string(set->name));
    Vec memory(k * Dc, 0.0f);
    Vec mass(k, 0.0f);
    Vec scratch(kernels::concept_scratch_floats(k, Dc));
    Vec readout(Dc);
    for (int step = 0; step < 20000; ++step) {
      const Vec write_logits = random_vector(rng, k, -4.0f, 4.0f);
      const Vec read_logits = random_vector(rng, k, -4.0f, 4.0f);
      const Vec value = random_vector(rng, Dc, -value_bound, value_bound);
      set->concept_memory_step(write_logits.data(), value.data(), read_logits.data(),
                               retention.data(), mix.data(), k, Dc, 1e-6f, memory.data(),
                               mass.data(), scratch.data(), readout.data());
    }
    for (size_t j = 0; j < k; ++j) {
      INFO("concept " << j << " retention " << retention[j]);
      const float pole_gain = 1.0f / (1.0f - retention[j]);
      CHECK(mass[j] > 0.0f);
      CHECK(mass[j] <= pole_gain * (1.0f + 1e-3f));
      for (size_t d = 0; d < Dc; ++d) {
        REQUIRE(std::isfinite(memory[j * Dc + d]));
        REQUIRE(std::fabs(memory[j * Dc + d]) <= value_bound * pole_gain * (1.0f + 1e-3f));
        // A concept mean is a weighted average of values.
        REQUIRE(std::fabs(memory[j * Dc + d]) <= value_bound * (mass[j] + 1e-6f) * (1.0f + 1e-3f));
      }
    }
    const float readout_bound = value_bound * (1.0f + mix_row_sum) * (1.0f + 1e-3f);
    for (float r : readout) {
      REQUIRE(std::isfinite(r));
      REQUIRE(std::fabs(r) <= readout_bound);
    }
  }
}
