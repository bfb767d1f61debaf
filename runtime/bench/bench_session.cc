// Session throughput: per-step latency of step() and run_chunk(), SIMD kernels
// against the scalar references, on random-weight models of several sizes and
// on model files given on the command line.
//
// Usage: bench_session [--repetitions N] [MODEL.imb ...]
//
// Variants run interleaved within each repetition, and the table reports
// medians over repetitions with ratios against the scalar step in the same
// process, so a noisy shared machine shifts both sides alike.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "infomamba/converter.h"
#include "infomamba/format/model_file.h"
#include "infomamba/kernels/kernels.h"
#include "infomamba/runtime.h"

namespace {

using infomamba::KernelVariant;
using infomamba::Model;
using infomamba::Session;
using infomamba::convert::CheckpointTensor;

struct Sizes {
  const char* label;
  size_t D, layers, N, K, E, k, Dc, C, H;
};

// Builds a checkpoint with the tensor names and shapes of the model definition
// and uniform random weights scaled by 1/sqrt(fan_in).
std::map<std::string, CheckpointTensor> random_checkpoint(const Sizes& s, std::mt19937& rng) {
  const size_t Di = s.E * s.D;
  const size_t R = (s.D + 15) / 16;
  std::map<std::string, CheckpointTensor> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float scale) {
    CheckpointTensor tensor;
    tensor.source_dtype = "F32";
    size_t count = 1;
    for (uint64_t dim : shape) count *= dim;
    tensor.shape = std::move(shape);
    std::uniform_real_distribution<float> uniform(-scale, scale);
    tensor.values.resize(count);
    for (float& value : tensor.values) value = uniform(rng);
    tensors[name] = std::move(tensor);
  };
  auto fan = [](size_t fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); };

  add("embed.weight", {s.D, s.C}, fan(s.C));
  add("embed.bias", {s.D}, 0.1f);
  for (size_t i = 0; i < s.layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    add(p + "norm.weight", {s.D}, 1.0f);
    add(p + "mixer.in_proj.weight", {2 * Di, s.D}, fan(s.D));
    add(p + "mixer.conv1d.weight", {Di, 1, s.K}, fan(s.K));
    add(p + "mixer.conv1d.bias", {Di}, 0.1f);
    add(p + "mixer.x_proj.weight", {R + 2 * s.N, Di}, fan(Di));
    add(p + "mixer.dt_proj.weight", {Di, R}, fan(R));
    add(p + "mixer.dt_proj.bias", {Di}, 1.0f);
    add(p + "mixer.A_log", {Di, s.N}, 1.0f);
    add(p + "mixer.D", {Di}, 1.0f);
    add(p + "mixer.out_proj.weight", {s.D, Di}, fan(Di));
    if (s.k == 0) continue;
    add(p + "concept.write.weight", {s.k, s.D}, fan(s.D));
    add(p + "concept.write.bias", {s.k}, 0.1f);
    add(p + "concept.value.weight", {s.Dc, s.D}, fan(s.D));
    add(p + "concept.retention_logit", {s.k}, 4.0f);
    add(p + "concept.mix.weight", {s.k, s.k}, fan(s.k));
    add(p + "concept.read.weight", {s.k, s.D}, fan(s.D));
    add(p + "concept.read.bias", {s.k}, 0.1f);
    add(p + "concept.out.weight", {s.D, s.Dc}, fan(s.Dc));
    add(p + "imf.dt_inject.weight", {Di, s.D}, fan(s.D));
    add(p + "imf.B_inject.weight", {s.N, s.D}, fan(s.D));
    add(p + "imf.C_inject.weight", {s.N, s.D}, fan(s.D));
    add(p + "imf.gate.weight", {s.D, 2 * s.D}, fan(2 * s.D));
    add(p + "imf.gate.bias", {s.D}, 0.1f);
  }
  add("norm_f.weight", {s.D}, 1.0f);
  add("head.weight", {s.H * s.C, s.D}, fan(s.D));
  add("head.bias", {s.H * s.C}, 0.1f);
  return tensors;
}

std::shared_ptr<const Model> build_random_model(const Sizes& s, std::vector<std::byte>& bytes) {
  std::mt19937 rng(7);
  infomamba::convert::CheckpointConfig config;
  config.architecture = "infomamba";
  config.d_model = s.D;
  config.n_layers = s.layers;
  config.d_state = s.N;
  config.d_conv = s.K;
  config.expand = s.E;
  config.d_inner = s.E * s.D;
  config.dt_rank = (s.D + 15) / 16;
  config.n_concepts = s.k;
  config.d_concept = s.Dc;
  config.input_kind = "continuous";
  config.channels = s.C;
  for (size_t c = 0; c < s.C; ++c) {
    std::string name = "x";
    name += std::to_string(c);
    config.channel_names.push_back(name);
  }
  config.mean.assign(s.C, 0.0);
  config.std.assign(s.C, 1.0);
  config.level_alpha = 0.02;
  config.output_kind = "forecast";
  config.horizon = s.H;
  auto built = infomamba::convert::build_model(config, random_checkpoint(s, rng));
  if (!built.is_ok()) {
    std::fprintf(stderr, "error: %s\n", built.status().message().c_str());
    std::exit(1);
  }
  auto serialized = infomamba::format::serialize_model(built->model);
  if (!serialized.is_ok()) {
    std::fprintf(stderr, "error: %s\n", serialized.status().message().c_str());
    std::exit(1);
  }
  bytes = std::move(serialized).value();
  auto model = Model::load_from_memory(bytes);
  if (!model.is_ok()) {
    std::fprintf(stderr, "error: %s\n", model.status().message().c_str());
    std::exit(1);
  }
  return *model;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

// Returns microseconds per step for `steps` steps, run one at a time or as chunks.
double time_per_step(Session& session, const std::vector<float>& inputs, size_t steps,
                     size_t channels, size_t chunk, std::vector<float>& outputs) {
  const size_t out_width = session.model().info().horizon * channels;
  const auto start = std::chrono::steady_clock::now();
  if (chunk == 1) {
    for (size_t t = 0; t < steps; ++t) {
      (void)session.step({inputs.data() + t * channels, channels}, {outputs.data(), out_width});
    }
  } else {
    for (size_t t = 0; t < steps; t += chunk) {
      const size_t rows = std::min(chunk, steps - t);
      (void)session.run_chunk({inputs.data() + t * channels, rows * channels}, rows,
                              {outputs.data(), rows * out_width});
    }
  }
  const auto stop = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::micro>(stop - start).count() / static_cast<double>(steps);
}

void bench_model(const std::string& label, std::shared_ptr<const Model> model, int repetitions) {
  const auto& info = model->info();
  const size_t channels = info.channels;
  const size_t steps = 512;
  const size_t chunk = 64;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> inputs(steps * channels);
  for (size_t i = 0; i < inputs.size(); ++i) {
    inputs[i] = static_cast<float>(info.mean[i % channels]) +
                static_cast<float>(info.std[i % channels]) * normal(rng);
  }
  std::vector<float> outputs(chunk * info.horizon * channels);

  struct Variant {
    const char* name;
    KernelVariant kernels;
    size_t chunk;
    std::vector<double> samples;
  };
  std::vector<Variant> variants = {{"scalar step", KernelVariant::kScalarReference, 1, {}},
                                   {"simd step", KernelVariant::kSimd, 1, {}},
                                   {"scalar chunk64", KernelVariant::kScalarReference, chunk, {}},
                                   {"simd chunk64", KernelVariant::kSimd, chunk, {}}};
  std::vector<Session> sessions;
  for (const Variant& variant : variants) {
    auto session = Session::create(model, {chunk, variant.kernels});
    if (!session.is_ok()) {
      std::fprintf(stderr, "error: %s\n", session.status().message().c_str());
      std::exit(1);
    }
    sessions.push_back(std::move(session).value());
  }
  for (int rep = 0; rep < repetitions; ++rep) {
    for (size_t v = 0; v < variants.size(); ++v) {
      sessions[v].reset();
      variants[v].samples.push_back(
          time_per_step(sessions[v], inputs, steps, channels, variants[v].chunk, outputs));
    }
  }

  const double baseline = median(variants[0].samples);
  std::printf("%s: %zu parameters, %zu state bytes per stream\n", label.c_str(),
              info.parameter_count, info.state_bytes_per_stream);
  for (const Variant& variant : variants) {
    const double us = median(variant.samples);
    std::printf("  %-16s %9.2f us/step  %8.0f steps/s  %5.2fx vs scalar step\n", variant.name, us,
                1e6 / us, baseline / us);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int repetitions = 15;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repetitions") == 0 && i + 1 < argc) {
      repetitions = std::max(1, std::atoi(argv[++i]));
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::printf("kernels: %s; %d repetitions of 512 steps; medians\n",
              infomamba::kernels::simd::arch_name(), repetitions);

  const Sizes sizes[] = {
      {"small D=64 L=2 N=16 k=8 Dc=32 C=7 H=96", 64, 2, 16, 4, 2, 8, 32, 7, 96},
      {"typical D=128 L=4 N=16 k=16 Dc=128 C=7 H=96", 128, 4, 16, 4, 2, 16, 128, 7, 96},
      {"plain Mamba D=128 L=4 N=16 k=0 C=7 H=96", 128, 4, 16, 4, 2, 0, 0, 7, 96},
  };
  std::vector<std::vector<std::byte>> buffers(std::size(sizes));
  for (size_t i = 0; i < std::size(sizes); ++i) {
    bench_model(sizes[i].label, build_random_model(sizes[i], buffers[i]), repetitions);
  }
  for (const std::string& path : files) {
    auto model = Model::load(path);
    if (!model.is_ok()) {
      std::fprintf(stderr, "error: %s\n", model.status().message().c_str());
      return 1;
    }
    bench_model(path, *model, repetitions);
  }
  return 0;
}
