// C++ API of the InfoMamba streaming runtime.
//
// A Model is loaded once (mmap, verification, execution plan) and is immutable
// afterwards, so any number of Sessions on any threads may share it. A Session
// stores the state of one stream: a fixed number of bytes, whatever the stream
// length. Sessions are not thread-safe; use one per thread.
//
//   auto model = infomamba::Model::load("co2.imb");          // Result<shared_ptr<const Model>>
//   auto session = infomamba::Session::create(*model);       // Result<Session>
//   session->step(observation, forecast);                    // forecast: H x C floats
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "infomamba/status.h"

namespace infomamba {

struct LoadOptions {
  // Runs the FlatBuffers verifier on the file's metadata buffer. Sizes, offsets,
  // indices and shapes are checked whatever this is set to.
  bool verify_flatbuffer = true;
};

// Description of a loaded model, for front ends.
struct ModelInfo {
  std::string spec_version;
  std::string architecture;
  std::string producer;
  std::string input_kind;    // "continuous" or "tokens"
  std::string output_kind;   // "forecast" or "logits"
  std::vector<std::string> channel_names;  // C names
  std::vector<double> mean;  // C per-channel training means
  std::vector<double> std;   // C per-channel training standard deviations
  size_t channels = 0;       // C
  size_t horizon = 0;        // H
  size_t vocab_size = 0;     // V, token models only (their input is one token id per step)
  double level_alpha = 0.0;
  size_t parameter_count = 0;        // elements in constant tensors
  size_t state_bytes_per_stream = 0;
  size_t node_count = 0;
};

class ExecutionPlan;  // defined in runtime/src; validated graph plus derived constants

// An immutable, verified model with its execution plan. Every Session keeps a
// shared_ptr to its Model, so the Model lives as long as its last Session.
class Model {
 public:
  static Result<std::shared_ptr<const Model>> load(const std::string& path,
                                                   const LoadOptions& options = {});
  // Loads from bytes the caller keeps alive for the Model's lifetime.
  static Result<std::shared_ptr<const Model>> load_from_memory(std::span<const std::byte> bytes,
                                                               const LoadOptions& options = {});
  ~Model();

  const ModelInfo& info() const { return info_; }
  // One line per node, in execution order: op, inputs -> outputs, states.
  std::string describe_graph() const;
  // One line per tensor: name, dtype, shape, constant or activation.
  std::string describe_tensors() const;

  const ExecutionPlan& plan() const { return *plan_; }

 private:
  Model() = default;
  struct Storage;
  static Result<std::shared_ptr<const Model>> create(std::unique_ptr<Storage> storage,
                                                     std::span<const std::byte> bytes,
                                                     const LoadOptions& options);
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<ExecutionPlan> plan_;
  ModelInfo info_;
};

// Kernel implementation that a session runs.
enum class KernelVariant {
  kSimd,             // xsimd kernels for the instruction set the library was built for
  kScalarReference,  // plain C++ references, for comparison in tests and benchmarks
};

struct SessionOptions {
  // Largest number of steps one internal pass of run_chunk processes; longer
  // chunks are processed in pieces of this size. Sets the activation arena size.
  size_t max_chunk_steps = 64;
  KernelVariant kernels = KernelVariant::kSimd;
};

// The state of one stream and the scratch memory to advance it. Move-only.
// step() and run_chunk() perform no heap allocation.
class Session {
 public:
  static Result<Session> create(std::shared_ptr<const Model> model,
                                const SessionOptions& options = {});
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  // Advances the stream by one observation of C values in original units and
  // writes the H x C forecast (row r = step t + r, channels in model order) in
  // original units. Non-finite observations are rejected with kInvalidArgument
  // and leave the state unchanged.
  Status step(std::span<const float> observation, std::span<float> forecast);

  // Advances the stream by `steps` observations ([steps, C], row-major) in the
  // sequence form. forecasts is [steps, H * C] with the forecast after every step,
  // or empty to keep only the state. Results equal `steps` calls of step() up to
  // floating-point rounding.
  Status run_chunk(std::span<const float> observations, size_t steps, std::span<float> forecasts);

  // Returns the stream to its initial state (all zero, except the level's decay
  // term, which starts at one).
  void reset();

  // Snapshot of the stream state: a small header (magic, version, a fingerprint
  // of the model's state layout) followed by the raw state floats.
  size_t state_snapshot_size() const;
  Status save_state(std::span<std::byte> out) const;
  // Restores a snapshot from save_state(); rejects a snapshot of another layout.
  Status load_state(std::span<const std::byte> snapshot);

  const Model& model() const { return *model_; }
  uint64_t steps_seen() const { return steps_seen_; }

 private:
  Session() = default;
  struct Buffers;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Buffers> buffers_;
  uint64_t steps_seen_ = 0;
};

}  // namespace infomamba
