// Runtime against the PyTorch reference, and session behaviour.
//
// Each fixture folder contains a random-weight checkpoint (config.json,
// model.safetensors) and reference.safetensors with `inputs` [T, C] and the
// float64 reference `forecasts` [T, H*C] after every step from a zero state.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <new>
#include <sstream>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <utility>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "infomamba/converter.h"
#include "infomamba/format/model_file.h"
#include "infomamba/infomamba.h"
#include "infomamba/runtime.h"
#include "nlohmann/json.hpp"

namespace fs = std::filesystem;
using infomamba::Model;
using infomamba::Session;

namespace {

struct Fixture {
  std::string name;
  std::shared_ptr<const Model> model;
  size_t steps = 0;  // T
  size_t channels = 0;  // C
  size_t outputs = 0;   // H * C
  std::vector<float> inputs;     // [T, C]
  std::vector<float> reference;  // [T, H*C]
  std::map<std::string, infomamba::convert::CheckpointTensor> weights;
};

fs::path temp_path(const std::string& stem) {
  static int counter = 0;
  return fs::temp_directory_path() /
         ("imb_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + stem);
}

// Converts the fixture's checkpoint with the C++ converter and loads it.
Fixture load_fixture(const fs::path& dir) {
  Fixture fixture;
  fixture.name = dir.filename().string();
  const fs::path model_path = temp_path(fixture.name + ".imb");
  auto report = infomamba::convert::convert_checkpoint(dir.string(), model_path.string());
  REQUIRE_MESSAGE(report.is_ok(), report.status().message());
  auto model = Model::load(model_path.string());
  REQUIRE_MESSAGE(model.is_ok(), model.status().message());
  fixture.model = *model;
  fs::remove(model_path);

  auto reference = infomamba::convert::read_safetensors((dir / "reference.safetensors").string());
  REQUIRE_MESSAGE(reference.is_ok(), reference.status().message());
  auto& tensors = *reference;
  REQUIRE(tensors.count("inputs") == 1);
  REQUIRE(tensors.count("forecasts") == 1);
  const auto& inputs = tensors.at("inputs");
  const auto& forecasts = tensors.at("forecasts");
  REQUIRE(inputs.shape.size() == 2);
  REQUIRE(forecasts.shape.size() == 2);
  fixture.steps = inputs.shape[0];
  fixture.channels = inputs.shape[1];
  fixture.outputs = forecasts.shape[1];
  fixture.inputs = inputs.values;
  fixture.reference = forecasts.values;
  REQUIRE(forecasts.shape[0] == fixture.steps);
  const auto& info = fixture.model->info();
  if (info.input_kind == "tokens") {
    // One token id per step in, V logits out.
    REQUIRE(fixture.channels == 1);
    REQUIRE(fixture.outputs == info.vocab_size);
  } else {
    REQUIRE(fixture.channels == info.channels);
    REQUIRE(fixture.outputs == info.horizon * fixture.channels);
  }

  auto weights = infomamba::convert::read_safetensors((dir / "model.safetensors").string());
  REQUIRE_MESSAGE(weights.is_ok(), weights.status().message());
  fixture.weights = std::move(*weights);
  return fixture;
}

std::vector<fs::path> fixture_dirs() {
  std::vector<fs::path> dirs;
  for (const char* name : {"infomamba", "mamba", "deep"}) {
    const fs::path dir = fs::path(IMB_FIXTURE_DIR) / name;
    if (fs::exists(dir / "reference.safetensors")) dirs.push_back(dir);
  }
  return dirs;
}

float max_abs(const std::vector<float>& values) {
  float largest = 0.0f;
  for (float value : values) largest = std::max(largest, std::fabs(value));
  return largest;
}

float max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float largest = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) largest = std::max(largest, std::fabs(a[i] - b[i]));
  return largest;
}

std::vector<float> run_steps(Session& session, const Fixture& fixture, size_t first, size_t count) {
  std::vector<float> outputs(count * fixture.outputs);
  for (size_t t = 0; t < count; ++t) {
    const std::span<const float> observation(fixture.inputs.data() + (first + t) * fixture.channels,
                                             fixture.channels);
    const std::span<float> forecast(outputs.data() + t * fixture.outputs, fixture.outputs);
    const infomamba::Status status = session.step(observation, forecast);
    REQUIRE_MESSAGE(status.is_ok(), status.message());
  }
  return outputs;
}

std::vector<float> run_chunk(Session& session, const Fixture& fixture, size_t first, size_t count) {
  std::vector<float> outputs(count * fixture.outputs);
  const std::span<const float> observations(fixture.inputs.data() + first * fixture.channels,
                                            count * fixture.channels);
  const infomamba::Status status = session.run_chunk(observations, count, outputs);
  REQUIRE_MESSAGE(status.is_ok(), status.message());
  return outputs;
}

Session make_session(const Fixture& fixture, size_t max_chunk_steps = 64,
                     infomamba::KernelVariant kernels = infomamba::KernelVariant::kSimd) {
  auto session = Session::create(fixture.model, {max_chunk_steps, kernels});
  REQUIRE_MESSAGE(session.is_ok(), session.status().message());
  return std::move(session).value();
}

// Stepping the runtime reproduces the float64 reference within 1e-5 of the
// largest output magnitude, with the SIMD kernels and with the scalar ones.
void check_reference_parity(const Fixture& fixture) {
  const std::pair<infomamba::KernelVariant, const char*> variants[] = {
      {infomamba::KernelVariant::kSimd, "simd"},
      {infomamba::KernelVariant::kScalarReference, "scalar"}};
  for (const auto& [variant, label] : variants) {
    Session session = make_session(fixture, 64, variant);
    const std::vector<float> outputs = run_steps(session, fixture, 0, fixture.steps);
    const float scale = max_abs(fixture.reference);
    const float error = max_abs_difference(outputs, fixture.reference);
    MESSAGE(fixture.name << " (" << std::string(label) << " kernels): max abs error " << error
                         << ", largest output " << scale);
    CHECK(error <= 1e-5f * scale);
  }
}

}  // namespace

TEST_CASE("fixtures are present and non-trivial") {
  const auto dirs = fixture_dirs();
  REQUIRE(dirs.size() == 3);
  for (const fs::path& dir : dirs) {
    const Fixture fixture = load_fixture(dir);
    INFO("fixture " << fixture.name);
    CHECK(fixture.steps >= 16);
    CHECK(max_abs(fixture.inputs) > 0.0f);
    CHECK(max_abs(fixture.reference) > 0.0f);

    // Inputs vary over time in every channel, so the recurrences are exercised.
    for (size_t c = 0; c < fixture.channels; ++c) {
      float low = std::numeric_limits<float>::max();
      float high = -low;
      for (size_t t = 0; t < fixture.steps; ++t) {
        low = std::min(low, fixture.inputs[t * fixture.channels + c]);
        high = std::max(high, fixture.inputs[t * fixture.channels + c]);
      }
      CHECK(high > low);
    }

    // Forecasts change from step to step.
    CHECK(max_abs_difference(
              std::vector<float>(fixture.reference.begin(), fixture.reference.begin() + fixture.outputs),
              std::vector<float>(fixture.reference.end() - fixture.outputs, fixture.reference.end())) > 0.0f);

    // Every weight tensor carries signal; in particular the IMF injections, which
    // a trainer initialises to zero, are random here.
    for (const auto& [name, tensor] : fixture.weights) {
      INFO("tensor " << name);
      CHECK(max_abs(tensor.values) > 0.0f);
    }
  }
}

TEST_CASE("runtime matches reference for infomamba fixture") {
  const fs::path dir = fs::path(IMB_FIXTURE_DIR) / "infomamba";
  REQUIRE(fs::exists(dir / "reference.safetensors"));
  check_reference_parity(load_fixture(dir));
}

TEST_CASE("runtime matches reference for plain mamba fixture") {
  const fs::path dir = fs::path(IMB_FIXTURE_DIR) / "mamba";
  REQUIRE(fs::exists(dir / "reference.safetensors"));
  const Fixture fixture = load_fixture(dir);
  CHECK(fixture.weights.count("layers.0.concept.mix.weight") == 0);
  check_reference_parity(fixture);
}

TEST_CASE("runtime matches reference for deep fixture") {
  const fs::path dir = fs::path(IMB_FIXTURE_DIR) / "deep";
  REQUIRE(fs::exists(dir / "reference.safetensors"));
  check_reference_parity(load_fixture(dir));
}

// Skipped unless run with --no-skip, as the CTest entry runtime_parity_live does
// after it has run the PyTorch reference with a new seed.
TEST_CASE("runtime matches reference for token models") {
  for (const char* name : {"tokens", "tokens_tied"}) {
    const fs::path dir = fs::path(IMB_FIXTURE_DIR) / name;
    REQUIRE(fs::exists(dir / "reference.safetensors"));
    const Fixture fixture = load_fixture(dir);
    INFO("fixture " << fixture.name);
    CHECK(fixture.model->info().input_kind == "tokens");
    CHECK(fixture.model->info().output_kind == "logits");
    // The tied fixture has no lm_head.weight: the embedding table serves as the head.
    CHECK(fixture.weights.count("lm_head.weight") == (std::string(name) == "tokens" ? 1u : 0u));
    CHECK(max_abs(fixture.reference) > 0.0f);
    check_reference_parity(fixture);

    // Chunk form matches stepping for token models too.
    Session stepped = make_session(fixture);
    const std::vector<float> expected = run_steps(stepped, fixture, 0, fixture.steps);
    Session chunked = make_session(fixture, 5);
    const std::vector<float> outputs = run_chunk(chunked, fixture, 0, fixture.steps);
    CHECK(max_abs_difference(outputs, expected) <= 1e-5f * max_abs(expected));
  }
}

TEST_CASE("Hugging Face Mamba layout converts and matches") {
  // The tied token fixture, renamed to the public Mamba checkpoint layout:
  // backbone.* names, backbone.embeddings.weight, and a config in Hugging Face
  // keys with no input or output object.
  const fs::path dir = fs::path(IMB_FIXTURE_DIR) / "tokens_tied";
  Fixture fixture = load_fixture(dir);
  std::ifstream config_file(dir / "config.json");
  const nlohmann::json ours = nlohmann::json::parse(config_file);
  REQUIRE(ours["n_concepts"].get<int>() == 0);
  const nlohmann::json hugging_face = {
      {"architectures", {"MambaForCausalLM"}},
      {"hidden_size", ours["d_model"]},
      {"num_hidden_layers", ours["n_layers"]},
      {"state_size", ours["d_state"]},
      {"conv_kernel", ours["d_conv"]},
      {"expand", ours["expand"]},
      {"time_step_rank", "auto"},
      {"layer_norm_epsilon", ours["norm_eps"]},
      {"vocab_size", ours["input"]["vocab_size"]}};
  auto config = infomamba::convert::parse_checkpoint_config(hugging_face.dump());
  REQUIRE_MESSAGE(config.is_ok(), config.status().message());

  std::map<std::string, infomamba::convert::CheckpointTensor> renamed;
  for (auto& [name, tensor] : fixture.weights) {
    const std::string public_name = name == "embed.weight" ? "embeddings.weight" : name;
    renamed["backbone." + public_name] = tensor;
  }
  auto built = infomamba::convert::build_model(*config, std::move(renamed));
  REQUIRE_MESSAGE(built.is_ok(), built.status().message());
  auto bytes = infomamba::format::serialize_model(built->model);
  REQUIRE_MESSAGE(bytes.is_ok(), bytes.status().message());
  auto model = Model::load_from_memory(*bytes);
  REQUIRE_MESSAGE(model.is_ok(), model.status().message());
  fixture.model = *model;
  check_reference_parity(fixture);
}

TEST_CASE("token ids outside the vocabulary are rejected") {
  const Fixture fixture = load_fixture(fs::path(IMB_FIXTURE_DIR) / "tokens");
  Session session = make_session(fixture);
  std::vector<float> logits(fixture.outputs);
  const float vocab = static_cast<float>(fixture.model->info().vocab_size);
  for (const float bad : {-1.0f, vocab, 2.5f}) {
    INFO("token id " << bad);
    const float token[] = {bad};
    const infomamba::Status status = session.step(token, logits);
    CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
    CHECK(status.message().find("expected an integer in [0, " + std::to_string(fixture.outputs) + ")") !=
          std::string::npos);
  }
  CHECK(session.steps_seen() == 0);
}

TEST_CASE("runtime matches live reference" * doctest::skip()) {
  const char* live_dir = std::getenv("IMB_LIVE_FIXTURE_DIR");
  REQUIRE_MESSAGE(live_dir != nullptr, "IMB_LIVE_FIXTURE_DIR must name the generated fixture folder");
  check_reference_parity(load_fixture(live_dir));
}

TEST_CASE("chunk matches stepping") {
  for (const fs::path& dir : fixture_dirs()) {
    const Fixture fixture = load_fixture(dir);
    INFO("fixture " << fixture.name);
    Session stepped = make_session(fixture);
    const std::vector<float> expected = run_steps(stepped, fixture, 0, fixture.steps);
    const float tolerance = 1e-5f * max_abs(expected);

    // One chunk for the whole stream, then pieces smaller than the stream.
    for (size_t max_chunk : {size_t{64}, size_t{7}, size_t{1}}) {
      INFO("max_chunk_steps " << max_chunk);
      Session chunked = make_session(fixture, max_chunk);
      const std::vector<float> outputs = run_chunk(chunked, fixture, 0, fixture.steps);
      CHECK(max_abs_difference(outputs, expected) <= tolerance);
    }

    // A chunk followed by single steps continues the same stream.
    Session mixed = make_session(fixture);
    const size_t half = fixture.steps / 2;
    std::vector<float> outputs = run_chunk(mixed, fixture, 0, half);
    const std::vector<float> rest = run_steps(mixed, fixture, half, fixture.steps - half);
    outputs.insert(outputs.end(), rest.begin(), rest.end());
    CHECK(max_abs_difference(outputs, expected) <= tolerance);
    CHECK(mixed.steps_seen() == fixture.steps);
  }
}

TEST_CASE("chunk without forecasts advances state") {
  const Fixture fixture = load_fixture(fixture_dirs().front());
  Session reference = make_session(fixture);
  const std::vector<float> expected = run_steps(reference, fixture, 0, fixture.steps);

  Session session = make_session(fixture);
  const size_t half = fixture.steps / 2;
  const infomamba::Status status = session.run_chunk(
      std::span<const float>(fixture.inputs.data(), half * fixture.channels), half, {});
  REQUIRE(status.is_ok());
  const std::vector<float> rest = run_steps(session, fixture, half, fixture.steps - half);
  const std::vector<float> expected_rest(expected.begin() + half * fixture.outputs, expected.end());
  CHECK(max_abs_difference(rest, expected_rest) <= 1e-5f * max_abs(expected));
}

TEST_CASE("reset restarts the stream") {
  const Fixture fixture = load_fixture(fixture_dirs().front());
  Session session = make_session(fixture);
  const std::vector<float> first = run_steps(session, fixture, 0, 5);
  session.reset();
  CHECK(session.steps_seen() == 0);
  const std::vector<float> again = run_steps(session, fixture, 0, 5);
  CHECK(max_abs_difference(first, again) == 0.0f);
}

TEST_CASE("snapshot round trip continues stream") {
  const Fixture fixture = load_fixture(fixture_dirs().front());
  const size_t half = fixture.steps / 2;
  Session original = make_session(fixture);
  run_steps(original, fixture, 0, half);

  std::vector<std::byte> snapshot(original.state_snapshot_size());
  REQUIRE(original.save_state(snapshot).is_ok());
  const std::vector<float> expected = run_steps(original, fixture, half, fixture.steps - half);

  Session restored = make_session(fixture);
  const infomamba::Status status = restored.load_state(snapshot);
  REQUIRE_MESSAGE(status.is_ok(), status.message());
  CHECK(restored.steps_seen() == half);
  const std::vector<float> outputs = run_steps(restored, fixture, half, fixture.steps - half);
  CHECK(max_abs_difference(outputs, expected) == 0.0f);
}

TEST_CASE("bad snapshots are rejected without changing state") {
  const auto dirs = fixture_dirs();
  const Fixture fixture = load_fixture(dirs.front());
  Session session = make_session(fixture);
  run_steps(session, fixture, 0, 4);
  std::vector<std::byte> good(session.state_snapshot_size());
  REQUIRE(session.save_state(good).is_ok());

  SUBCASE("truncated") {
    std::vector<std::byte> bad(good.begin(), good.end() - 4);
    const infomamba::Status status = session.load_state(bad);
    CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
    CHECK(status.message().find("bytes, expected") != std::string::npos);
  }
  SUBCASE("wrong magic") {
    std::vector<std::byte> bad = good;
    bad[0] = std::byte{'X'};
    const infomamba::Status status = session.load_state(bad);
    CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
    CHECK(status.message().find("magic") != std::string::npos);
  }
  SUBCASE("non-finite value") {
    std::vector<std::byte> bad = good;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(bad.data() + bad.size() - sizeof(float), &nan, sizeof(float));
    const infomamba::Status status = session.load_state(bad);
    CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
    CHECK(status.message().find("finite") != std::string::npos);
  }
  SUBCASE("snapshot of another model") {
    const Fixture other = load_fixture(dirs.back());
    REQUIRE(other.name != fixture.name);
    Session other_session = make_session(other);
    std::vector<std::byte> foreign(other_session.state_snapshot_size());
    REQUIRE(other_session.save_state(foreign).is_ok());
    const infomamba::Status status = session.load_state(foreign);
    CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
    CHECK(status.message().find("different model") != std::string::npos);
  }

  // Whatever was rejected, the state is still the one saved in `good`.
  std::vector<std::byte> after(session.state_snapshot_size());
  REQUIRE(session.save_state(after).is_ok());
  CHECK(after == good);
}

TEST_CASE("non-finite observation leaves state unchanged") {
  const Fixture fixture = load_fixture(fixture_dirs().front());
  Session session = make_session(fixture);
  run_steps(session, fixture, 0, 3);
  std::vector<std::byte> before(session.state_snapshot_size());
  REQUIRE(session.save_state(before).is_ok());

  std::vector<float> observation(fixture.channels, 1.0f);
  observation.back() = std::numeric_limits<float>::infinity();
  std::vector<float> forecast(fixture.outputs);
  const infomamba::Status status = session.step(observation, forecast);
  CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
  CHECK(status.message().find("finite") != std::string::npos);

  std::vector<std::byte> after(session.state_snapshot_size());
  REQUIRE(session.save_state(after).is_ok());
  CHECK(after == before);
  CHECK(session.steps_seen() == 3);
}

TEST_CASE("wrong buffer sizes are rejected") {
  const Fixture fixture = load_fixture(fixture_dirs().front());
  Session session = make_session(fixture);
  std::vector<float> observation(fixture.channels + 1, 0.0f);
  std::vector<float> forecast(fixture.outputs);
  infomamba::Status status = session.step(observation, forecast);
  CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
  CHECK(status.message().find("expected " + std::to_string(fixture.channels)) != std::string::npos);

  observation.resize(fixture.channels);
  forecast.resize(fixture.outputs - 1);
  status = session.step(observation, forecast);
  CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
}

TEST_CASE("huge step count is rejected") {
  const Fixture fixture = load_fixture(fixture_dirs().front());
  Session session = make_session(fixture);
  std::vector<float> observations(5, 1.0f);
  std::vector<float> forecasts(fixture.outputs);
  // steps * C wraps around to a small number in 64-bit arithmetic.
  const size_t steps = (std::numeric_limits<size_t>::max() / fixture.channels) + 2;
  const infomamba::Status status = session.run_chunk(observations, steps, forecasts);
  CHECK(status.code() == infomamba::StatusCode::kInvalidArgument);
  CHECK(status.message().find("too large") != std::string::npos);
  CHECK(session.steps_seen() == 0);
}

TEST_CASE("state size is fixed and matches the layout") {
  const auto dirs = fixture_dirs();
  for (const fs::path& dir : dirs) {
    const Fixture fixture = load_fixture(dir);
    INFO("fixture " << fixture.name);
    const auto& info = fixture.model->info();
    CHECK(info.state_bytes_per_stream > 0);
    Session session = make_session(fixture);
    const size_t before = session.state_snapshot_size();
    run_steps(session, fixture, 0, fixture.steps);
    CHECK(session.state_snapshot_size() == before);
  }
}

TEST_CASE("C API steps and reports errors") {
  const fs::path dir = fixture_dirs().front();
  const Fixture fixture = load_fixture(dir);
  const fs::path model_path = temp_path("c_api.imb");
  REQUIRE(infomamba::convert::convert_checkpoint(dir.string(), model_path.string()).is_ok());

  imb_model* model = nullptr;
  REQUIRE(imb_model_load(model_path.string().c_str(), &model) == IMB_OK);
  CHECK(imb_model_channels(model) == fixture.channels);
  CHECK(imb_model_vocab_size(model) == 0);
  imb_session* session = nullptr;
  REQUIRE(imb_session_create(model, &session) == IMB_OK);
  imb_model_free(model);  // the session keeps the model alive

  std::vector<float> forecast(fixture.outputs);
  CHECK(imb_session_step(session, fixture.inputs.data(), fixture.channels, forecast.data(),
                         forecast.size()) == IMB_OK);
  CHECK(std::fabs(forecast[0] - fixture.reference[0]) <= 1e-5f * max_abs(fixture.reference));
  CHECK(imb_session_step(session, fixture.inputs.data(), fixture.channels + 1, forecast.data(),
                         forecast.size()) == IMB_INVALID_ARGUMENT);
  CHECK(std::string(imb_last_error()).find("expected") != std::string::npos);
  imb_session_free(session);

  imb_model* missing = nullptr;
  CHECK(imb_model_load("/nonexistent/model.imb", &missing) == IMB_NOT_FOUND);
  CHECK(missing == nullptr);
  CHECK(std::string(imb_last_error()).find("/nonexistent/model.imb") != std::string::npos);
  fs::remove(model_path);
}

// ---------------------------------------------------------------------------
// Allocation-free stepping. Every operator new in this test program goes
// through the counter below, so a step that allocates shows up as a change.

namespace {
std::atomic<size_t> allocation_count{0};
}  // namespace

// Every allocating form is replaced, so each pairs with the matching delete
// below (AddressSanitizer reports a mismatch otherwise). GCC warns that free()
// receives memory from operator new, but these operators allocate with malloc.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  if (void* pointer = std::malloc(size == 0 ? 1 : size)) return pointer;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* pointer) noexcept { std::free(pointer); }
void operator delete(void* pointer, size_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer) noexcept { std::free(pointer); }
void operator delete[](void* pointer, size_t) noexcept { std::free(pointer); }
void operator delete(void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }
void operator delete[](void* pointer, const std::nothrow_t&) noexcept { std::free(pointer); }
#pragma GCC diagnostic pop

TEST_CASE("step and chunk do not allocate") {
  for (const fs::path& dir : fixture_dirs()) {
    const Fixture fixture = load_fixture(dir);
    INFO("fixture " << fixture.name);
    Session session = make_session(fixture, 16);
    std::vector<float> forecast(fixture.outputs);
    std::vector<float> forecasts(16 * fixture.outputs);
    const std::span<const float> first_row(fixture.inputs.data(), fixture.channels);
    const std::span<const float> chunk(fixture.inputs.data(), 16 * fixture.channels);

    const size_t before = allocation_count.load();
    for (int repeat = 0; repeat < 10; ++repeat) {
      CHECK(session.step(first_row, forecast).is_ok());
      CHECK(session.run_chunk(chunk, 16, forecasts).is_ok());
    }
    const size_t after = allocation_count.load();
    CHECK(after == before);
  }
}

// ---------------------------------------------------------------------------
// Real data: the committed ETTh1 model streamed over the series must reproduce
// the whole-history score the PyTorch evaluation wrote into eval.json. Skipped
// where the data set is absent (it is not part of the repository).

namespace {

std::vector<std::vector<float>> read_etth1_rows(const fs::path& path, size_t max_rows,
                                                std::vector<std::string>& header) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::stringstream header_stream(line);
  for (std::string cell; std::getline(header_stream, cell, ',');) header.push_back(cell);
  std::vector<std::vector<float>> rows;
  while (rows.size() < max_rows && std::getline(in, line)) {
    std::stringstream row_stream(line);
    std::vector<float> row;
    std::string cell;
    std::getline(row_stream, cell, ',');  // date
    while (std::getline(row_stream, cell, ',')) row.push_back(std::stof(cell));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

TEST_CASE("ETTh1 stream matches reference evaluation") {
  const fs::path csv = fs::path(IMB_SHARED_DATA_DIR) / "ETTh1.csv";
  const fs::path sample = fs::path(IMB_SOURCE_DIR) / "samples" / "etth1";
  if (!fs::exists(csv)) {
    MESSAGE("skipped: " << csv.string() << " not found (the data set is not in the repository)");
    return;
  }
  auto model = Model::load((sample / "etth1.imb").string());
  REQUIRE_MESSAGE(model.is_ok(), model.status().message());
  const auto& info = model.value()->info();
  std::ifstream eval_file(sample / "checkpoint" / "eval.json");
  REQUIRE(eval_file.good());
  const nlohmann::json eval = nlohmann::json::parse(eval_file);

  // Test windows: targets in rows [11520, 14400), origins 11519 .. 14400 - H - 1.
  const size_t end_row = 14400;
  const size_t first_origin = 11519;
  std::vector<std::string> header;
  const auto rows = read_etth1_rows(csv, end_row, header);
  REQUIRE(rows.size() == end_row);
  REQUIRE(header.size() == info.channels + 1);
  for (size_t c = 0; c < info.channels; ++c) CHECK(header[c + 1] == info.channel_names[c]);

  const size_t C = info.channels;
  const size_t H = info.horizon;
  std::vector<float> observations(end_row * C);
  for (size_t t = 0; t < end_row; ++t) std::copy(rows[t].begin(), rows[t].end(), observations.begin() + t * C);
  auto session = Session::create(*model);
  REQUIRE(session.is_ok());
  std::vector<float> forecasts(end_row * H * C);
  REQUIRE(session->run_chunk(observations, end_row, forecasts).is_ok());

  double squared = 0.0;
  double absolute = 0.0;
  size_t count = 0;
  size_t windows = 0;
  for (size_t origin = first_origin; origin + H < end_row; ++origin, ++windows) {
    for (size_t r = 1; r <= H; ++r) {
      for (size_t c = 0; c < C; ++c) {
        const double error = (forecasts[origin * H * C + (r - 1) * C + c] -
                              observations[(origin + r) * C + c]) / info.std[c];
        squared += error * error;
        absolute += std::fabs(error);
        ++count;
      }
    }
  }
  CHECK(windows == eval["windows"].get<size_t>());
  const double mse = squared / static_cast<double>(count);
  const double mae = absolute / static_cast<double>(count);
  MESSAGE("ETTh1 whole-history test windows: MSE " << mse << ", MAE " << mae);
  CHECK(mse == doctest::Approx(eval["stream"]["mse"].get<double>()).epsilon(1e-4));
  CHECK(mae == doctest::Approx(eval["stream"]["mae"].get<double>()).epsilon(1e-4));
}
