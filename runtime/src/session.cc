// Sessions: one stream's state plus the arena its steps run in.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

#include "infomamba/runtime.h"
#include "infomamba/kernels/kernels.h"
#include "plan.h"

namespace infomamba {
namespace {

// Snapshot header. The fingerprint ties a snapshot to the state layout of the
// model that wrote it, so a snapshot cannot be loaded into another model.
struct SnapshotHeader {
  char magic[4];            // "IMBS"
  uint32_t version;         // 1
  uint64_t fingerprint;     // ExecutionPlan::state_fingerprint()
  uint64_t state_floats;
  uint64_t steps_seen;
};
constexpr char kSnapshotMagic[4] = {'I', 'M', 'B', 'S'};
constexpr uint32_t kSnapshotVersion = 1;

Status invalid_argument(const std::string& message) {
  return Status(StatusCode::kInvalidArgument, message);
}

// Returns "1 step" or "3 steps".
std::string count_of(size_t count, const char* noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// Returns the index of the first non-finite value, or values.size().
size_t first_non_finite(std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return i;
  }
  return values.size();
}

}  // namespace

struct Session::Buffers {
  const kernels::KernelTable* kernel_table = nullptr;
  size_t max_rows = 0;
  std::vector<float> state;
  std::vector<float> arena;
  std::vector<float> scratch;
};

Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Result<Session> Session::create(std::shared_ptr<const Model> model, const SessionOptions& options) {
  if (model == nullptr) return invalid_argument("model is null, expected a loaded model");
  if (options.max_chunk_steps == 0 || options.max_chunk_steps > 65536) {
    return invalid_argument("max_chunk_steps is " + std::to_string(options.max_chunk_steps) +
                            ", expected 1 to 65536");
  }
  const ExecutionPlan& plan = model->plan();
  Session session;
  session.model_ = std::move(model);
  try {
    session.buffers_ = std::make_unique<Buffers>();
    Buffers& buffers = *session.buffers_;
    buffers.kernel_table = options.kernels == KernelVariant::kScalarReference
                               ? &kernels::scalar_kernels()
                               : &kernels::simd_kernels();
    buffers.max_rows = options.max_chunk_steps;
    buffers.state.resize(plan.state_floats());
    buffers.arena.resize(plan.activation_floats_per_step() * buffers.max_rows);
    buffers.scratch.resize(std::max<size_t>(1, plan.scratch_floats_per_step() * buffers.max_rows));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "session buffers for " +
                                                std::to_string(options.max_chunk_steps) +
                                                " chunk steps could not be allocated");
  }
  session.reset();
  return session;
}

void Session::reset() {
  for (const StateSlot& slot : model_->plan().states()) {
    std::fill_n(buffers_->state.begin() + static_cast<std::ptrdiff_t>(slot.offset), slot.count,
                slot.initial_value);
  }
  steps_seen_ = 0;
}

Status Session::step(std::span<const float> observation, std::span<float> forecast) {
  return run_chunk(observation, 1, forecast);
}

Status Session::run_chunk(std::span<const float> observations, size_t steps,
                          std::span<float> forecasts) {
  const ExecutionPlan& plan = model_->plan();
  const size_t in_width = plan.input_width();
  const size_t out_width = plan.output_width();
  // Overflow-checked, so a huge step count cannot wrap around the size checks.
  size_t in_values = 0;
  size_t out_values = 0;
  if (__builtin_mul_overflow(steps, in_width, &in_values) ||
      __builtin_mul_overflow(steps, out_width, &out_values)) {
    return invalid_argument("steps is " + std::to_string(steps) +
                            ", too large for buffers of that many observations");
  }
  if (observations.size() != in_values) {
    return invalid_argument("observations have " + std::to_string(observations.size()) +
                            " values, expected " + std::to_string(in_values) + " (" +
                            count_of(steps, "step") + " x " + count_of(in_width, "channel") + ")");
  }
  if (!forecasts.empty() && forecasts.size() != out_values) {
    return invalid_argument("forecast buffer has " + std::to_string(forecasts.size()) +
                            " values, expected " + std::to_string(out_values) + " (" +
                            count_of(steps, "step") + " x " + std::to_string(out_width) +
                            " forecast values) or 0");
  }
  // Reject the whole chunk before touching the state, so a bad row changes nothing.
  const size_t bad = first_non_finite(observations);
  if (bad != observations.size()) {
    return invalid_argument("observation at step " + std::to_string(bad / in_width) + ", channel " +
                            std::to_string(bad % in_width) + " is " +
                            std::to_string(observations[bad]) + ", expected a finite number");
  }

  // A token model reads one id per step; the embedding lookup relies on this check.
  if (const size_t vocab_size = plan.vocab_size(); vocab_size > 0) {
    for (size_t t = 0; t < steps; ++t) {
      const float id = observations[t];
      if (id < 0.0f || id >= static_cast<float>(vocab_size) || id != std::floor(id)) {
        return invalid_argument("token id at step " + std::to_string(t) + " is " + std::to_string(id) +
                                ", expected an integer in [0, " + std::to_string(vocab_size) + ")");
      }
    }
  }

  Buffers& buffers = *buffers_;
  const TensorSlot& input = plan.tensors()[plan.input_tensor()];
  const TensorSlot& output = plan.tensors()[plan.output_tensor()];
  float* input_rows = buffers.arena.data() + input.arena_offset * buffers.max_rows;
  const float* output_rows = buffers.arena.data() + output.arena_offset * buffers.max_rows;

  for (size_t done = 0; done < steps;) {
    const size_t rows = std::min(buffers.max_rows, steps - done);
    std::memcpy(input_rows, observations.data() + done * in_width, rows * in_width * sizeof(float));
    plan.execute(*buffers.kernel_table, rows, buffers.max_rows, buffers.arena.data(), buffers.state.data(),
                 buffers.scratch.data());
    if (!forecasts.empty()) {
      std::memcpy(forecasts.data() + done * out_width, output_rows, rows * out_width * sizeof(float));
    }
    done += rows;
  }
  steps_seen_ += steps;
  return Status::ok();
}

size_t Session::state_snapshot_size() const {
  return sizeof(SnapshotHeader) + buffers_->state.size() * sizeof(float);
}

Status Session::save_state(std::span<std::byte> out) const {
  if (out.size() != state_snapshot_size()) {
    return invalid_argument("snapshot buffer has " + std::to_string(out.size()) + " bytes, expected " +
                            std::to_string(state_snapshot_size()));
  }
  SnapshotHeader header{};
  std::memcpy(header.magic, kSnapshotMagic, sizeof(header.magic));
  header.version = kSnapshotVersion;
  header.fingerprint = model_->plan().state_fingerprint();
  header.state_floats = buffers_->state.size();
  header.steps_seen = steps_seen_;
  std::memcpy(out.data(), &header, sizeof(header));
  std::memcpy(out.data() + sizeof(header), buffers_->state.data(), buffers_->state.size() * sizeof(float));
  return Status::ok();
}

Status Session::load_state(std::span<const std::byte> snapshot) {
  if (snapshot.size() < sizeof(SnapshotHeader)) {
    return invalid_argument("snapshot has " + std::to_string(snapshot.size()) +
                            " bytes, expected at least the " + std::to_string(sizeof(SnapshotHeader)) +
                            "-byte header");
  }
  SnapshotHeader header;
  std::memcpy(&header, snapshot.data(), sizeof(header));
  if (std::memcmp(header.magic, kSnapshotMagic, sizeof(header.magic)) != 0) {
    return invalid_argument("snapshot magic is not \"IMBS\"; the bytes are not a session snapshot");
  }
  if (header.version != kSnapshotVersion) {
    return invalid_argument("snapshot version " + std::to_string(header.version) + ", expected " +
                            std::to_string(kSnapshotVersion));
  }
  if (header.fingerprint != model_->plan().state_fingerprint() ||
      header.state_floats != buffers_->state.size()) {
    return invalid_argument("snapshot state layout (" + std::to_string(header.state_floats) +
                            " floats) does not match this model's (" +
                            std::to_string(buffers_->state.size()) +
                            " floats); it was saved from a different model");
  }
  if (snapshot.size() != state_snapshot_size()) {
    return invalid_argument("snapshot has " + std::to_string(snapshot.size()) + " bytes, expected " +
                            std::to_string(state_snapshot_size()));
  }
  // Check every value before copying any, so a bad snapshot leaves the session unchanged.
  const std::byte* values = snapshot.data() + sizeof(header);
  for (size_t i = 0; i < buffers_->state.size(); ++i) {
    float value;
    std::memcpy(&value, values + i * sizeof(float), sizeof(float));
    if (!std::isfinite(value)) {
      return invalid_argument("snapshot state value " + std::to_string(i) + " is " +
                              std::to_string(value) + ", expected a finite number");
    }
  }
  std::memcpy(buffers_->state.data(), values, buffers_->state.size() * sizeof(float));
  steps_seen_ = header.steps_seen;
  return Status::ok();
}

}  // namespace infomamba
