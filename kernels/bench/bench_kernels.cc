// Benchmarks of the float32 kernels, scalar:: and simd:: side by side. The
// shapes are those of a typical model (D 128, Di 256, N 16, K 4, k 16,
// Dc 128, C 7, H 96). A table of times and simd/scalar speedups follows the
// usual console output.
//
// Every benchmark runs kRepetitions times; the table gives the median and the
// minimum of the wall-clock time per call. Google Benchmark flags such as
// --benchmark_filter=linear work as usual.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "infomamba/kernels/kernels.h"

namespace kernels = infomamba::kernels;

namespace {

constexpr int kRepetitions = 10;
constexpr double kMinSecondsPerRepetition = 0.05;

using Vec = std::vector<float>;

Vec random_vector(size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> distribution(lo, hi);
  Vec v(n);
  for (float& value : v) {
    value = distribution(rng);
  }
  return v;
}

// The implementations under test, scalar reference first.
using Variant = kernels::KernelTable;
const Variant kVariants[] = {kernels::scalar_kernels(), kernels::simd_kernels()};

void bench_linear(benchmark::State& state, const Variant& variant, size_t rows, size_t in,
                  size_t out) {
  const Vec x = random_vector(rows * in, -1.0f, 1.0f, 1);
  const Vec weight = random_vector(out * in, -1.0f, 1.0f, 2);
  const Vec bias = random_vector(out, -1.0f, 1.0f, 3);
  Vec y(rows * out);
  for (auto _ : state) {
    variant.linear(x.data(), rows, in, weight.data(), bias.data(), out, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * in * out) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void bench_conv(benchmark::State& state, const Variant& variant, size_t channels, size_t K) {
  const Vec x = random_vector(channels, -1.0f, 1.0f, 1);
  const Vec weight = random_vector(channels * K, -1.0f, 1.0f, 2);
  const Vec bias = random_vector(channels, -1.0f, 1.0f, 3);
  Vec window = random_vector((K - 1) * channels, -1.0f, 1.0f, 4);
  Vec y(channels);
  for (auto _ : state) {
    variant.causal_conv1d_step(x.data(), window.data(), weight.data(), bias.data(), channels, K,
                               true, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

void bench_scan(benchmark::State& state, const Variant& variant, size_t Di, size_t N) {
  const Vec x = random_vector(Di, -1.0f, 1.0f, 1);
  const Vec dt_raw = random_vector(Di, -5.0f, -2.0f, 2);
  const Vec dt_extra = random_vector(Di, -0.1f, 0.1f, 3);
  const Vec B = random_vector(N, -1.0f, 1.0f, 4);
  const Vec C = random_vector(N, -1.0f, 1.0f, 5);
  const Vec D = random_vector(Di, 0.5f, 1.5f, 6);
  const Vec z = random_vector(Di, -1.0f, 1.0f, 7);
  Vec A(Di * N);
  for (size_t c = 0; c < Di; ++c) {
    for (size_t j = 0; j < N; ++j) {
      A[c * N + j] = -static_cast<float>(j + 1);
    }
  }
  Vec ssm(Di * N, 0.0f);
  Vec y(Di);
  for (auto _ : state) {
    variant.selective_scan_step(x.data(), dt_raw.data(), dt_extra.data(), B.data(), C.data(),
                                A.data(), D.data(), z.data(), Di, N, ssm.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

void bench_concept(benchmark::State& state, const Variant& variant, size_t k, size_t Dc) {
  const Vec write_logits = random_vector(k, -2.0f, 2.0f, 1);
  const Vec read_logits = random_vector(k, -2.0f, 2.0f, 2);
  const Vec value = random_vector(Dc, -1.0f, 1.0f, 3);
  const Vec retention = random_vector(k, 0.5f, 0.999f, 4);
  const Vec mix = random_vector(k * k, -0.1f, 0.1f, 5);
  Vec memory(k * Dc, 0.0f);
  Vec mass(k, 0.0f);
  Vec scratch(kernels::concept_scratch_floats(k, Dc));
  Vec readout(Dc);
  for (auto _ : state) {
    variant.concept_memory_step(write_logits.data(), value.data(), read_logits.data(),
                                retention.data(), mix.data(), k, Dc, 1e-6f, memory.data(),
                                mass.data(), scratch.data(), readout.data());
    benchmark::DoNotOptimize(readout.data());
    benchmark::ClobberMemory();
  }
}

void bench_rmsnorm(benchmark::State& state, const Variant& variant, size_t n) {
  const Vec x = random_vector(n, -1.0f, 1.0f, 1);
  const Vec weight = random_vector(n, 0.5f, 1.5f, 2);
  Vec y(n);
  for (auto _ : state) {
    variant.rmsnorm(x.data(), weight.data(), n, 1e-5f, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
}

// In-place activations run on a copy refreshed every iteration, so each call
// gets the same inputs. The copy is part of the measured time for both variants.
void bench_activation(benchmark::State& state, void (*activation)(float*, size_t), size_t n) {
  const Vec input = random_vector(n, -4.0f, 4.0f, 1);
  Vec x(n);
  for (auto _ : state) {
    std::copy(input.begin(), input.end(), x.begin());
    activation(x.data(), n);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
}

void bench_gated_mix(benchmark::State& state, const Variant& variant, size_t n) {
  const Vec logits = random_vector(n, -4.0f, 4.0f, 1);
  const Vec m = random_vector(n, -1.0f, 1.0f, 2);
  const Vec g = random_vector(n, -1.0f, 1.0f, 3);
  Vec out(n);
  for (auto _ : state) {
    variant.gated_mix(logits.data(), m.data(), g.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

// A pair of benchmarks: its label, and a note on where the model uses the shape.
struct Pair {
  std::string label;
  std::string note;
};

// Pairs in the order of registration, for the speedup table.
std::vector<Pair> g_pairs;

// Registers `run` once per variant under "<label>/<variant name>".
void register_pair(const std::string& label,
                   const std::function<void(benchmark::State&, const Variant&)>& run,
                   const std::string& note = "") {
  g_pairs.push_back({label, note});
  for (const Variant& variant : kVariants) {
    benchmark::RegisterBenchmark((label + "/" + variant.name).c_str(),
                                 [run, &variant](benchmark::State& state) { run(state, variant); })
        ->Unit(benchmark::kMicrosecond)
        ->Repetitions(kRepetitions)
        ->ReportAggregatesOnly(true)
        ->ComputeStatistics("min",
                            [](const std::vector<double>& times) {
                              return *std::min_element(times.begin(), times.end());
                            })
        ->MinTime(kMinSecondsPerRepetition);
  }
}

void register_benchmarks() {
  struct LinearShape {
    size_t rows;
    size_t out;
    size_t in;
    const char* note;
  };
  const LinearShape linear_shapes[] = {
      {1, 64, 64, ""},
      {1, 256, 64, ""},
      {1, 64, 128, ""},
      {1, 512, 128, "in_proj, D 128"},
      {1, 672, 64, "head, H*C = 96*7"},
      {1, 1024, 1024, ""},
      {1, 128, 256, "out_proj"},
      {1, 40, 256, "x_proj, R+2N = 40"},
      {1, 256, 8, "dt_proj, R = 8"},
      {1, 128, 7, "embed, C = 7"},
      {16, 512, 128, "in_proj"},
      {16, 128, 256, "out_proj"},
      {16, 256, 64, ""},
      {64, 512, 128, "in_proj"},
      {64, 128, 256, "out_proj"},
      {64, 256, 64, ""},
  };
  for (const LinearShape& shape : linear_shapes) {
    const std::string label = "linear rows=" + std::to_string(shape.rows) + " " +
                              std::to_string(shape.out) + "x" + std::to_string(shape.in);
    register_pair(
        label,
        [shape](benchmark::State& state, const Variant& variant) {
          bench_linear(state, variant, shape.rows, shape.in, shape.out);
        },
        shape.note);
  }

  for (size_t Di : {128, 256}) {
    register_pair("selective_scan_step Di=" + std::to_string(Di) + " N=16",
                  [Di](benchmark::State& state, const Variant& variant) {
                    bench_scan(state, variant, Di, 16);
                  });
  }
  for (size_t Di : {128, 256}) {
    register_pair("causal_conv1d_step Di=" + std::to_string(Di) + " K=4 silu",
                  [Di](benchmark::State& state, const Variant& variant) {
                    bench_conv(state, variant, Di, 4);
                  });
  }
  for (size_t Dc : {64, 128}) {
    register_pair("concept_memory_step k=16 Dc=" + std::to_string(Dc),
                  [Dc](benchmark::State& state, const Variant& variant) {
                    bench_concept(state, variant, 16, Dc);
                  });
  }
  register_pair("rmsnorm n=128", [](benchmark::State& state, const Variant& variant) {
    bench_rmsnorm(state, variant, 128);
  });
  register_pair("softplus n=256", [](benchmark::State& state, const Variant& variant) {
    bench_activation(state, variant.softplus, 256);
  });
  register_pair("silu n=256", [](benchmark::State& state, const Variant& variant) {
    bench_activation(state, variant.silu, 256);
  });
  register_pair("softmax n=16", [](benchmark::State& state, const Variant& variant) {
    bench_activation(state, variant.softmax, 16);
  });
  register_pair("gated_mix n=128", [](benchmark::State& state, const Variant& variant) {
    bench_gated_mix(state, variant, 128);
  });
}

// Median and minimum wall time per call of one benchmark, in microseconds.
struct Summary {
  double median = 0.0;
  double min = 0.0;
};

// Console output as usual, plus the median and minimum of every benchmark,
// keyed by its registered name.
class SummaryCollector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Aggregate) {
        continue;
      }
      if (run.aggregate_name == "median") {
        summaries_[run.run_name.function_name].median = run.GetAdjustedRealTime();
      } else if (run.aggregate_name == "min") {
        summaries_[run.run_name.function_name].min = run.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  const std::map<std::string, Summary>& summaries() const { return summaries_; }

 private:
  std::map<std::string, Summary> summaries_;
};

// Prints one line per pair that has both a scalar and a simd result. The
// minimum is less disturbed by other processes on a busy machine.
void print_speedups(const std::map<std::string, Summary>& summaries) {
  std::printf("\nsimd arch: %s; wall time per call, median and minimum of %d repetitions\n",
              kernels::simd::arch_name(), kRepetitions);
  std::printf("%-36s %11s %11s %8s %11s %11s %8s  %s\n", "kernel", "scalar med", "simd med",
              "speedup", "scalar min", "simd min", "speedup", "note");
  for (const Pair& pair : g_pairs) {
    const auto scalar = summaries.find(pair.label + "/scalar");
    const auto simd = summaries.find(pair.label + "/simd");
    if (scalar == summaries.end() || simd == summaries.end()) {
      continue;
    }
    const Summary& s = scalar->second;
    const Summary& v = simd->second;
    std::printf("%-36s %11.3f %11.3f %7.2fx %11.3f %11.3f %7.2fx  %s\n", pair.label.c_str(),
                s.median, v.median, s.median / v.median, s.min, v.min, s.min / v.min,
                pair.note.c_str());
  }
  std::printf("times in microseconds\n");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  register_benchmarks();

  SummaryCollector reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_speedups(reporter.summaries());
  benchmark::Shutdown();
  return 0;
}
