// Tests of the checkpoint converter: safetensors parsing, config.json parsing,
// tensor checks, the graph it builds and whole conversions to a model file.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "infomamba/converter.h"
#include "infomamba/format/model_file.h"

namespace cv = infomamba::convert;
namespace fmt = infomamba::format;
using infomamba::StatusCode;
using Json = nlohmann::json;
using Shape = std::vector<uint64_t>;

namespace {

// A folder under /tmp, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/imb_converter_test.XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { remove_tree(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string make_folder(const std::string& name) const {
    const std::string folder = file(name);
    REQUIRE(::mkdir(folder.c_str(), 0755) == 0);
    return folder;
  }

 private:
  static void remove_tree(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (dir != nullptr) {
      while (const dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        const std::string child = path + "/" + name;
        struct stat info {};
        if (::lstat(child.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
          remove_tree(child);
        } else {
          ::unlink(child.c_str());
        }
      }
      ::closedir(dir);
    }
    ::rmdir(path.c_str());
  }

  std::string path_;
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream stream(path, std::ios::binary);
  stream << text;
}

void write_bytes(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream stream(path, std::ios::binary);
  stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

uint64_t element_count(const Shape& shape) {
  uint64_t count = 1;
  for (uint64_t dim : shape) count *= dim;
  return count;
}

// Distinct, non-zero, finite values, different for every tensor name.
std::vector<float> pattern_values(const std::string& name, uint64_t count) {
  uint32_t seed = 2166136261u;
  for (char c : name) seed = (seed ^ static_cast<uint8_t>(c)) * 16777619u;
  std::vector<float> values(count);
  for (uint64_t i = 0; i < count; ++i) {
    values[i] = 0.05f * std::sin(static_cast<float>(i) * 0.37f + static_cast<float>(seed % 1000));
    if (values[i] == 0.0f) values[i] = 0.01f;
  }
  return values;
}

// ---------------------------------------------------------------------------
// safetensors encoding, written independently of the reader under test.

struct RawTensor {
  std::string dtype;
  Shape shape;
  std::vector<std::byte> data;
};

template <typename T>
std::vector<std::byte> to_bytes(const std::vector<T>& values) {
  std::vector<std::byte> bytes(values.size() * sizeof(T));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

RawTensor f32_tensor(const Shape& shape, const std::vector<float>& values) { return {"F32", shape, to_bytes(values)}; }

// Builds a safetensors file: `extra_header` entries are merged into the header
// as they are, and `header_override` replaces the computed header text.
std::vector<std::byte> safetensors_file(const std::map<std::string, RawTensor>& tensors,
                                        const Json& extra_header = Json::object(),
                                        const std::string& header_override = "") {
  Json header = Json::object();
  std::vector<std::byte> data;
  for (const auto& [name, tensor] : tensors) {
    const uint64_t begin = data.size();
    data.insert(data.end(), tensor.data.begin(), tensor.data.end());
    header[name] = {{"dtype", tensor.dtype}, {"shape", tensor.shape}, {"data_offsets", {begin, data.size()}}};
  }
  for (const auto& [key, value] : extra_header.items()) header[key] = value;
  std::string text = header_override.empty() ? header.dump() : header_override;
  while (text.size() % 8 != 0) text += ' ';

  std::vector<std::byte> bytes(8);
  const uint64_t length = text.size();
  std::memcpy(bytes.data(), &length, sizeof(length));
  for (char c : text) bytes.push_back(static_cast<std::byte>(c));
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

// ---------------------------------------------------------------------------
// Checkpoints that match a configuration.

struct Dims {
  uint64_t D = 16, L = 2, N = 4, K = 4, E = 2, R = 1, k = 0, Dc = 0, C = 3, H = 2;
  uint64_t Di() const { return E * D; }
};

Json make_config(const Dims& dims, double level_alpha) {
  Json config = {
      {"architecture", "infomamba"},
      {"d_model", dims.D},
      {"n_layers", dims.L},
      {"d_state", dims.N},
      {"d_conv", dims.K},
      {"expand", dims.E},
      {"n_concepts", dims.k},
      {"input",
       {{"kind", "continuous"},
        {"channels", dims.C},
        {"names", {"HUFL", "HULL", "OT"}},
        {"mean", {7.5, 2.25, 17.0}},
        {"std", {5.5, 2.0, 9.25}},
        {"level_alpha", level_alpha}}},
      {"output", {{"kind", "forecast"}, {"horizon", dims.H}, {"channels", dims.C}}},
  };
  if (dims.k > 0) config["d_concept"] = dims.Dc;
  return config;
}

// The parameter table of the model definition, for `dims`.
std::map<std::string, Shape> model_shapes(const Dims& d) {
  const uint64_t Di = d.Di();
  std::map<std::string, Shape> shapes = {
      {"embed.weight", {d.D, d.C}},      {"embed.bias", {d.D}},          {"norm_f.weight", {d.D}},
      {"head.weight", {d.H * d.C, d.D}}, {"head.bias", {d.H * d.C}},
  };
  for (uint64_t i = 0; i < d.L; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    shapes[p + "norm.weight"] = {d.D};
    shapes[p + "mixer.in_proj.weight"] = {2 * Di, d.D};
    shapes[p + "mixer.conv1d.weight"] = {Di, 1, d.K};
    shapes[p + "mixer.conv1d.bias"] = {Di};
    shapes[p + "mixer.x_proj.weight"] = {d.R + 2 * d.N, Di};
    shapes[p + "mixer.dt_proj.weight"] = {Di, d.R};
    shapes[p + "mixer.dt_proj.bias"] = {Di};
    shapes[p + "mixer.A_log"] = {Di, d.N};
    shapes[p + "mixer.D"] = {Di};
    shapes[p + "mixer.out_proj.weight"] = {d.D, Di};
    if (d.k == 0) continue;
    shapes[p + "concept.write.weight"] = {d.k, d.D};
    shapes[p + "concept.write.bias"] = {d.k};
    shapes[p + "concept.value.weight"] = {d.Dc, d.D};
    shapes[p + "concept.retention_logit"] = {d.k};
    shapes[p + "concept.mix.weight"] = {d.k, d.k};
    shapes[p + "concept.read.weight"] = {d.k, d.D};
    shapes[p + "concept.read.bias"] = {d.k};
    shapes[p + "concept.out.weight"] = {d.D, d.Dc};
    shapes[p + "imf.dt_inject.weight"] = {Di, d.D};
    shapes[p + "imf.B_inject.weight"] = {d.N, d.D};
    shapes[p + "imf.C_inject.weight"] = {d.N, d.D};
    shapes[p + "imf.gate.weight"] = {d.D, 2 * d.D};
    shapes[p + "imf.gate.bias"] = {d.D};
  }
  return shapes;
}

std::map<std::string, cv::CheckpointTensor> in_memory_checkpoint(const Dims& dims) {
  std::map<std::string, cv::CheckpointTensor> tensors;
  for (const auto& [name, shape] : model_shapes(dims)) {
    tensors[name] = cv::CheckpointTensor{"F32", shape, pattern_values(name, element_count(shape))};
  }
  return tensors;
}

std::map<std::string, RawTensor> raw_checkpoint(const Dims& dims, const std::string& prefix = "") {
  std::map<std::string, RawTensor> tensors;
  for (const auto& [name, shape] : model_shapes(dims)) {
    tensors[prefix + name] = f32_tensor(shape, pattern_values(name, element_count(shape)));
  }
  return tensors;
}

cv::CheckpointConfig parse_config(const Json& config) {
  auto parsed = cv::parse_checkpoint_config(config.dump());
  REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
  return std::move(parsed).value();
}

// Writes config.json and model.safetensors into a new folder `name`.
std::string write_checkpoint(const TempDir& dir, const std::string& name, const Json& config,
                             const std::map<std::string, RawTensor>& tensors) {
  const std::string folder = dir.make_folder(name);
  write_text(folder + "/config.json", config.dump(2));
  write_bytes(folder + "/model.safetensors", safetensors_file(tensors));
  return folder;
}

// Nodes of the converter's graph: Standardize, the optional StreamingLevel and
// the embedding; 10 per plain block and 9 more with concepts; norm_f, head and
// ForecastOutput.
uint64_t expected_node_count(const Dims& dims, bool has_level) {
  return 2 + (has_level ? 1 : 0) + dims.L * (dims.k > 0 ? 19 : 10) + 3;
}

// Floats of per-stream state: the level (C + 1) when used, then per block the
// conv window, the SSM state and, with concepts, memory and mass.
uint64_t expected_state_floats(const Dims& d, bool has_level) {
  uint64_t per_block = (d.K - 1) * d.Di() + d.Di() * d.N;
  if (d.k > 0) per_block += d.k * d.Dc + d.k;
  return (has_level ? d.C + 1 : 0) + d.L * per_block;
}

const fmt::Tensor* find_tensor(const fmt::Model& model, const std::string& name) {
  for (const fmt::Tensor& tensor : model.tensors) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

void require_error(const infomamba::Status& status, StatusCode code, const std::vector<std::string>& parts) {
  REQUIRE_FALSE(status.is_ok());
  INFO("message: " << status.message());
  CHECK(status.code() == code);
  for (const std::string& part : parts) CHECK_MESSAGE(contains(status.message(), part), "missing \"" << part << "\"");
}

}  // namespace

// ---------------------------------------------------------------------------
// Whole conversions

TEST_CASE("plain Mamba checkpoint converts and reads back") {
  TempDir dir;
  const Dims dims;
  const Json config = make_config(dims, 0.05);
  const std::string folder = write_checkpoint(dir, "mamba", config, raw_checkpoint(dims));
  const std::string output = dir.file("mamba.imb");

  auto report = cv::convert_checkpoint(folder, output);
  REQUIRE_MESSAGE(report.is_ok(), report.status().message());

  // The checkpoint's weights plus the per-channel mean and std constants.
  uint64_t parameters = 2 * dims.C;
  for (const auto& [name, shape] : model_shapes(dims)) parameters += element_count(shape);
  CHECK(report->parameter_count == parameters);
  CHECK(report->node_count == expected_node_count(dims, true));
  CHECK(report->state_bytes_per_stream == expected_state_floats(dims, true) * 4);
  CHECK(report->warnings.empty());

  auto file = fmt::MappedFile::open(output);
  REQUIRE(file.is_ok());
  CHECK(report->file_bytes == file->bytes().size());
  auto model = fmt::read_model(file->bytes());
  REQUIRE_MESSAGE(model.is_ok(), model.status().message());
  CHECK(model->nodes.size() == expected_node_count(dims, true));
  CHECK(model->tensors.size() == report->tensor_count);
  CHECK(model->metadata.spec_version == "infomamba-1");
  CHECK(model->metadata.producer == "infomamba convert 0.1");
  CHECK(model->metadata.architecture == "infomamba");
  CHECK(model->metadata.channel_names == std::vector<std::string>{"HUFL", "HULL", "OT"});
  CHECK(model->metadata.mean == std::vector<double>{7.5, 2.25, 17.0});
  CHECK(model->metadata.std == std::vector<double>{5.5, 2.0, 9.25});
  CHECK(model->metadata.horizon == dims.H);
  CHECK(model->metadata.level_alpha == 0.05);
  CHECK(Json::parse(model->metadata.config_json) == config);

  // Weights arrive unchanged.
  const fmt::Tensor* a_log = find_tensor(model.value(), "layers.1.mixer.A_log");
  REQUIRE(a_log != nullptr);
  CHECK(a_log->shape == Shape{dims.Di(), dims.N});
  const std::vector<float> expected = pattern_values("layers.1.mixer.A_log", dims.Di() * dims.N);
  REQUIRE(a_log->size == expected.size() * sizeof(float));
  CHECK(std::memcmp(a_log->data, expected.data(), a_log->size) == 0);

  const fmt::Tensor* std_tensor = find_tensor(model.value(), "input.std");
  REQUIRE(std_tensor != nullptr);
  std::vector<float> std_values(3);
  std::memcpy(std_values.data(), std_tensor->data, 12);
  CHECK(std_values == std::vector<float>{5.5f, 2.0f, 9.25f});

  // One input, one output, and no concept stream.
  REQUIRE(model->inputs.size() == 1);
  CHECK(model->tensors[model->inputs[0]].name == "observation");
  REQUIRE(model->outputs.size() == 1);
  CHECK(model->tensors[model->outputs[0]].name == "forecast");
  CHECK(model->tensors[model->outputs[0]].shape == Shape{dims.H * dims.C});
  for (const fmt::Node& node : model->nodes) {
    CHECK(node.op != fmt::OpType::kConceptMemory);
    CHECK(node.op != fmt::OpType::kGatedFusion);
  }
}

TEST_CASE("InfoMamba checkpoint builds the concept stream") {
  Dims dims;
  dims.k = 3;
  dims.Dc = 5;
  dims.R = 2;
  Json config = make_config(dims, 0.0);
  config["dt_rank"] = 2;
  auto built = cv::build_model(parse_config(config), in_memory_checkpoint(dims));
  REQUIRE_MESSAGE(built.is_ok(), built.status().message());
  const fmt::Model& model = built->model;
  CHECK(model.nodes.size() == expected_node_count(dims, false));

  size_t concept_nodes = 0, fusion_nodes = 0, level_nodes = 0;
  const fmt::Node* scan = nullptr;
  for (const fmt::Node& node : model.nodes) {
    if (node.op == fmt::OpType::kConceptMemory) ++concept_nodes;
    if (node.op == fmt::OpType::kGatedFusion) ++fusion_nodes;
    if (node.op == fmt::OpType::kStreamingLevel) ++level_nodes;
    if (node.op == fmt::OpType::kSelectiveScan && scan == nullptr) scan = &node;
  }
  CHECK(concept_nodes == dims.L);
  CHECK(fusion_nodes == dims.L);
  CHECK(level_nodes == 0);

  // The scan reads the injected dt, B and C of the global stream.
  REQUIRE(scan != nullptr);
  REQUIRE(scan->inputs.size() == 10);
  CHECK(model.tensors[scan->inputs[7]].name == "layers.0.dt_extra");
  CHECK(model.tensors[scan->inputs[8]].name == "layers.0.B_extra");
  CHECK(model.tensors[scan->inputs[9]].name == "layers.0.C_extra");
  CHECK(model.tensors[scan->inputs[4]].name == "layers.0.mixer.A_log");

  // Without a level, ForecastOutput gets no level input.
  const fmt::Node& forecast = model.nodes.back();
  CHECK(forecast.op == fmt::OpType::kForecastOutput);
  REQUIRE(forecast.inputs.size() == 4);
  CHECK(forecast.inputs[1] == -1);
  const fmt::Attribute* horizon = forecast.find_attribute("horizon");
  REQUIRE(horizon != nullptr);
  CHECK(horizon->i == static_cast<int64_t>(dims.H));

  uint64_t state_floats = 0;
  for (const fmt::State& state : model.states) state_floats += state.element_count();
  CHECK(state_floats == expected_state_floats(dims, false));

  const auto bytes = fmt::serialize_model(model);
  REQUIRE_MESSAGE(bytes.is_ok(), bytes.status().message());
}

TEST_CASE("safetensors path finds config.json beside it") {
  TempDir dir;
  const Dims dims;
  const std::string folder = write_checkpoint(dir, "ckpt", make_config(dims, 0.0), raw_checkpoint(dims));
  const std::string renamed = folder + "/weights.safetensors";
  REQUIRE(::rename((folder + "/model.safetensors").c_str(), renamed.c_str()) == 0);

  auto report = cv::convert_checkpoint(renamed, dir.file("out.imb"));
  REQUIRE_MESSAGE(report.is_ok(), report.status().message());
  CHECK(report->node_count == expected_node_count(dims, false));
}

TEST_CASE("backbone prefix is stripped") {
  TempDir dir;
  const Dims dims;
  const std::string folder = write_checkpoint(dir, "hf", make_config(dims, 0.0), raw_checkpoint(dims, "backbone."));
  auto report = cv::convert_checkpoint(folder, dir.file("hf.imb"));
  REQUIRE_MESSAGE(report.is_ok(), report.status().message());

  auto file = fmt::MappedFile::open(dir.file("hf.imb"));
  REQUIRE(file.is_ok());
  auto model = fmt::read_model(file->bytes());
  REQUIRE(model.is_ok());
  CHECK(find_tensor(model.value(), "layers.0.mixer.D") != nullptr);
  CHECK(find_tensor(model.value(), "backbone.layers.0.mixer.D") == nullptr);

  SUBCASE("a name present with and without the prefix is rejected") {
    auto tensors = in_memory_checkpoint(dims);
    tensors["backbone.norm_f.weight"] = tensors["norm_f.weight"];
    const auto built = cv::build_model(parse_config(make_config(dims, 0.0)), tensors);
    require_error(built.status(), StatusCode::kInvalidCheckpoint,
                  {"tensor norm_f.weight: present both with and without the \"backbone.\" prefix"});
  }
}

TEST_CASE("conversion errors name the path") {
  TempDir dir;
  const Dims dims;

  SUBCASE("missing checkpoint") {
    const auto report = cv::convert_checkpoint(dir.file("absent"), dir.file("out.imb"));
    require_error(report.status(), StatusCode::kNotFound, {"absent"});
  }
  SUBCASE("missing config.json") {
    const std::string folder = dir.make_folder("no_config");
    write_bytes(folder + "/model.safetensors", safetensors_file(raw_checkpoint(dims)));
    const auto report = cv::convert_checkpoint(folder, dir.file("out.imb"));
    require_error(report.status(), StatusCode::kNotFound, {"no_config/config.json"});
  }
  SUBCASE("missing weights") {
    const std::string folder = dir.make_folder("no_weights");
    write_text(folder + "/config.json", make_config(dims, 0.0).dump());
    const auto report = cv::convert_checkpoint(folder, dir.file("out.imb"));
    require_error(report.status(), StatusCode::kNotFound, {"no_weights/model.safetensors"});
  }
  SUBCASE("a file that is not .safetensors") {
    write_text(dir.file("weights.bin"), "x");
    const auto report = cv::convert_checkpoint(dir.file("weights.bin"), dir.file("out.imb"));
    require_error(report.status(), StatusCode::kInvalidArgument, {"weights.bin", "expected a folder or a .safetensors file"});
  }
  SUBCASE("bad config is reported with the config path") {
    Json config = make_config(dims, 0.0);
    config.erase("d_state");
    const std::string folder = write_checkpoint(dir, "bad_config", config, raw_checkpoint(dims));
    const auto report = cv::convert_checkpoint(folder, dir.file("out.imb"));
    require_error(report.status(), StatusCode::kInvalidCheckpoint, {"bad_config/config.json: config d_state: missing key"});
  }
  SUBCASE("shape mismatch is reported with the weights path and leaves no output") {
    auto tensors = raw_checkpoint(dims);
    tensors["layers.0.mixer.D"] = f32_tensor({7}, pattern_values("x", 7));
    const std::string folder = write_checkpoint(dir, "bad_shape", make_config(dims, 0.0), tensors);
    const auto report = cv::convert_checkpoint(folder, dir.file("out.imb"));
    require_error(report.status(), StatusCode::kInvalidCheckpoint,
                  {"bad_shape/model.safetensors: tensor layers.0.mixer.D: shape [7], expected [32]"});
    CHECK_FALSE(exists(dir.file("out.imb")));
  }
  SUBCASE("output folder missing") {
    const std::string folder = write_checkpoint(dir, "good", make_config(dims, 0.0), raw_checkpoint(dims));
    const auto report = cv::convert_checkpoint(folder, dir.file("missing_folder/out.imb"));
    require_error(report.status(), StatusCode::kIoError, {"missing_folder/out.imb"});
  }
}

TEST_CASE("checkpoint files that are not regular files") {
  TempDir dir;
  const Dims dims;
  const std::string folder = write_checkpoint(dir, "ckpt", make_config(dims, 0.0), raw_checkpoint(dims));
  const std::string config = folder + "/config.json";
  const std::string weights = folder + "/model.safetensors";
  const std::string output = dir.file("out.imb");

  // A FIFO without a writer blocks a plain open() forever, so the alarms below
  // end the program with SIGALRM if an open blocks.
  SUBCASE("config.json as a FIFO") {
    REQUIRE(::unlink(config.c_str()) == 0);
    REQUIRE(::mkfifo(config.c_str(), 0600) == 0);
    ::alarm(20);
    const auto report = cv::convert_checkpoint(folder, output);
    ::alarm(0);
    require_error(report.status(), StatusCode::kIoError, {"'" + config + "' is not a regular file (it is a FIFO)"});
  }
  SUBCASE("config.json linked to /dev/zero") {
    REQUIRE(::unlink(config.c_str()) == 0);
    REQUIRE(::symlink("/dev/zero", config.c_str()) == 0);
    const auto report = cv::convert_checkpoint(folder, output);
    require_error(report.status(), StatusCode::kIoError,
                  {"'" + config + "' is not a regular file (it is a character device)"});
  }
  SUBCASE("config.json as a folder") {
    REQUIRE(::unlink(config.c_str()) == 0);
    REQUIRE(::mkdir(config.c_str(), 0755) == 0);
    const auto report = cv::convert_checkpoint(folder, output);
    require_error(report.status(), StatusCode::kIoError, {"'" + config + "' is not a regular file (it is a folder)"});
  }
  SUBCASE("config.json above 16 MiB") {
    // A sparse file: its size is past the limit without writing 16 MiB.
    REQUIRE(::truncate(config.c_str(), 16 * 1024 * 1024 + 1) == 0);
    const auto report = cv::convert_checkpoint(folder, output);
    require_error(report.status(), StatusCode::kInvalidCheckpoint,
                  {"config '" + config + "' is 16777217 bytes, expected at most 16777216"});
  }
  SUBCASE("config.json linked to a regular file is read") {
    const std::string target = dir.file("real_config.json");
    REQUIRE(::rename(config.c_str(), target.c_str()) == 0);
    REQUIRE(::symlink(target.c_str(), config.c_str()) == 0);
    const auto report = cv::convert_checkpoint(folder, dir.file("linked.imb"));
    CHECK_MESSAGE(report.is_ok(), report.status().message());
  }
  SUBCASE("model.safetensors as a FIFO") {
    REQUIRE(::unlink(weights.c_str()) == 0);
    REQUIRE(::mkfifo(weights.c_str(), 0600) == 0);
    ::alarm(20);
    const auto read = cv::read_safetensors(weights);
    const auto report = cv::convert_checkpoint(folder, output);
    ::alarm(0);
    require_error(read.status(), StatusCode::kIoError, {"'" + weights + "' is not a regular file (it is a FIFO)"});
    require_error(report.status(), StatusCode::kIoError, {"'" + weights + "' is not a regular file (it is a FIFO)"});
  }
  CHECK_FALSE(exists(output));
}

TEST_CASE("output path must not be a checkpoint file") {
  TempDir dir;
  const Dims dims;
  const std::string folder = write_checkpoint(dir, "ckpt", make_config(dims, 0.0), raw_checkpoint(dims));
  const std::string config = folder + "/config.json";
  const std::string weights = folder + "/model.safetensors";
  const std::vector<std::byte> weight_bytes = safetensors_file(raw_checkpoint(dims));
  const std::string config_text = make_config(dims, 0.0).dump(2);
  const std::string weights_message = "is the checkpoint's own weights file; choose another path";
  const std::string config_message = "is the checkpoint's own config file; choose another path";

  SUBCASE("weights path of a folder checkpoint") {
    const auto report = cv::convert_checkpoint(folder, weights);
    require_error(report.status(), StatusCode::kInvalidArgument, {"output '" + weights + "' " + weights_message});
  }
  SUBCASE("weights path given as the checkpoint") {
    const auto report = cv::convert_checkpoint(weights, weights);
    require_error(report.status(), StatusCode::kInvalidArgument, {"output '" + weights + "' " + weights_message});
  }
  SUBCASE("weights path spelled with dot segments") {
    const std::string spelled = folder + "/./../ckpt/model.safetensors";
    const auto report = cv::convert_checkpoint(folder, spelled);
    require_error(report.status(), StatusCode::kInvalidArgument, {"output '" + spelled + "' " + weights_message});
  }
  SUBCASE("a hard link to the weights") {
    const std::string link = dir.file("weights_link.imb");
    REQUIRE(::link(weights.c_str(), link.c_str()) == 0);
    const auto report = cv::convert_checkpoint(folder, link);
    require_error(report.status(), StatusCode::kInvalidArgument, {"output '" + link + "' " + weights_message});
  }
  SUBCASE("a relative path to the weights") {
    const std::filesystem::path previous = std::filesystem::current_path();
    std::filesystem::current_path(dir.file(""));
    const auto report = cv::convert_checkpoint("ckpt", "ckpt/model.safetensors");
    std::filesystem::current_path(previous);
    require_error(report.status(), StatusCode::kInvalidArgument, {"output 'ckpt/model.safetensors' " + weights_message});
  }
  SUBCASE("config.json") {
    const auto report = cv::convert_checkpoint(folder, config);
    require_error(report.status(), StatusCode::kInvalidArgument, {"output '" + config + "' " + config_message});
  }
  SUBCASE("empty output path") {
    const auto report = cv::convert_checkpoint(folder, "");
    require_error(report.status(), StatusCode::kInvalidArgument, {"output path is empty"});
  }
  SUBCASE("another file in the checkpoint folder is allowed") {
    const auto report = cv::convert_checkpoint(folder, folder + "/model.imb");
    CHECK_MESSAGE(report.is_ok(), report.status().message());
  }

  std::ifstream weights_stream(weights, std::ios::binary);
  const std::vector<char> weights_after((std::istreambuf_iterator<char>(weights_stream)), std::istreambuf_iterator<char>());
  REQUIRE(weights_after.size() == weight_bytes.size());
  CHECK(std::memcmp(weights_after.data(), weight_bytes.data(), weight_bytes.size()) == 0);
  std::ifstream config_stream(config, std::ios::binary);
  const std::string config_after((std::istreambuf_iterator<char>(config_stream)), std::istreambuf_iterator<char>());
  CHECK(config_after == config_text);
}

TEST_CASE("unknown config keys become warnings") {
  TempDir dir;
  const Dims dims;
  Json config = make_config(dims, 0.0);
  config["learning_rate"] = 0.001;
  config["input"]["scaler"] = "standard";
  const std::string folder = write_checkpoint(dir, "warn", config, raw_checkpoint(dims));
  auto report = cv::convert_checkpoint(folder, dir.file("warn.imb"));
  REQUIRE_MESSAGE(report.is_ok(), report.status().message());
  REQUIRE(report->warnings.size() == 2);
  CHECK(report->warnings[0] == "config: unknown key \"learning_rate\" ignored");
  CHECK(report->warnings[1] == "config input: unknown key \"scaler\" ignored");
}

TEST_CASE("fixture checkpoints convert") {
  for (const char* name : {"infomamba", "mamba", "deep"}) {
    CAPTURE(name);
    const std::string folder = std::string(IMB_FIXTURE_DIR) + "/" + name;
    if (!exists(folder + "/config.json") || !exists(folder + "/model.safetensors")) {
      MESSAGE("fixture " << folder << " is absent, skipped");
      continue;
    }
    TempDir dir;
    auto report = cv::convert_checkpoint(folder, dir.file("fixture.imb"));
    REQUIRE_MESSAGE(report.is_ok(), report.status().message());
    CHECK(report->warnings.empty());

    auto file = fmt::MappedFile::open(dir.file("fixture.imb"));
    REQUIRE(file.is_ok());
    auto model = fmt::read_model(file->bytes());
    REQUIRE_MESSAGE(model.is_ok(), model.status().message());
    CHECK(model->nodes.size() == report->node_count);

    std::ifstream config_stream(folder + "/config.json");
    const Json config = Json::parse(config_stream);
    Dims dims;
    dims.L = config["n_layers"].get<uint64_t>();
    dims.k = config.value("n_concepts", uint64_t{0});
    const bool has_level = config["input"].value("level_alpha", 0.0) > 0.0;
    CHECK(model->nodes.size() == expected_node_count(dims, has_level));
    CHECK(model->metadata.horizon == config["output"]["horizon"].get<uint32_t>());
    CHECK(model->metadata.channel_names.size() == config["input"]["channels"].get<size_t>());
  }
}

// ---------------------------------------------------------------------------
// Tensor checks

TEST_CASE("tensor checks name the tensor and both shapes") {
  const Dims dims;
  const cv::CheckpointConfig config = parse_config(make_config(dims, 0.0));
  auto tensors = in_memory_checkpoint(dims);

  SUBCASE("complete checkpoint builds") { CHECK(cv::build_model(config, tensors).is_ok()); }
  SUBCASE("missing tensor") {
    tensors.erase("layers.0.mixer.D");
    require_error(cv::build_model(config, tensors).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor layers.0.mixer.D: missing from the checkpoint (expected shape [32])"});
  }
  SUBCASE("extra tensor") {
    tensors["layers.0.extra"] = cv::CheckpointTensor{"F32", {2}, {1.0f, 2.0f}};
    require_error(cv::build_model(config, tensors).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor layers.0.extra: not part of the model (n_concepts = 0, n_layers = 2)"});
  }
  SUBCASE("concept tensors in a plain Mamba checkpoint") {
    Dims with_concepts = dims;
    with_concepts.k = 2;
    with_concepts.Dc = 4;
    tensors = in_memory_checkpoint(with_concepts);
    require_error(cv::build_model(config, tensors).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor layers.0.concept.mix.weight: not part of the model (n_concepts = 0, n_layers = 2)",
                   "more problems"});
  }
  SUBCASE("wrong shape") {
    tensors["layers.1.mixer.A_log"] = cv::CheckpointTensor{"F32", {32, 2}, pattern_values("a", 64)};
    require_error(cv::build_model(config, tensors).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor layers.1.mixer.A_log: shape [32, 2], expected [32, 4]"});
  }
  SUBCASE("transposed weight") {
    tensors["embed.weight"] = cv::CheckpointTensor{"F32", {3, 16}, pattern_values("e", 48)};
    require_error(cv::build_model(config, tensors).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor embed.weight: shape [3, 16], expected [16, 3]"});
  }
  SUBCASE("several problems are listed together") {
    tensors.erase("norm_f.weight");
    tensors["layers.0.mixer.conv1d.weight"].shape = {32, 4};
    tensors["unused"] = cv::CheckpointTensor{"F32", {1}, {0.5f}};
    const auto status = cv::build_model(config, tensors).status();
    require_error(status, StatusCode::kInvalidCheckpoint,
                  {"tensor layers.0.mixer.conv1d.weight: shape [32, 4], expected [32, 1, 4]",
                   "tensor norm_f.weight: missing from the checkpoint (expected shape [16])",
                   "tensor unused: not part of the model"});
  }
  SUBCASE("non-finite weight") {
    tensors["head.bias"].values[4] = std::nanf("");
    require_error(cv::build_model(config, tensors).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor head.bias: element 4 is nan, expected finite values"});
  }
}

// ---------------------------------------------------------------------------
// safetensors parsing

TEST_CASE("safetensors dtypes convert to float32") {
  // Values exactly representable in F16, F32 and F64.
  const std::vector<float> expected = {0.0f, 1.5f, -2.25f, 65504.0f, 0.0009765625f};
  const std::vector<uint16_t> f16 = {0x0000, 0x3e00, 0xc080, 0x7bff, 0x1400};
  const std::vector<uint16_t> bf16 = {0x0000, 0x3fc0, 0xc010, 0x477f, 0x3a80};
  const std::vector<double> f64 = {0.0, 1.5, -2.25, 65504.0, 0.0009765625};
  const std::vector<uint16_t> f16_subnormal = {0x0001, 0x8200};  // 2^-24, -2^-15

  const std::map<std::string, RawTensor> raw = {
      {"a16", {"F16", {5}, to_bytes(f16)}},
      {"b16", {"BF16", {5}, to_bytes(bf16)}},
      {"c64", {"F64", {5}, to_bytes(f64)}},
      {"d32", {"F32", {5}, to_bytes(expected)}},
      {"e16", {"F16", {2}, to_bytes(f16_subnormal)}},
  };
  auto tensors = cv::parse_safetensors(safetensors_file(raw, {{"__metadata__", {{"format", "pt"}}}}));
  REQUIRE_MESSAGE(tensors.is_ok(), tensors.status().message());
  REQUIRE(tensors->size() == 5);
  // bfloat16 has 8 significant bits and cannot store 65504, so its fourth value is 65280.
  const std::vector<float> expected_bf16 = {0.0f, 1.5f, -2.25f, 65280.0f, 0.0009765625f};
  CHECK(tensors->at("a16").values == expected);
  CHECK(tensors->at("a16").source_dtype == "F16");
  CHECK(tensors->at("b16").values == expected_bf16);
  CHECK(tensors->at("c64").values == expected);
  CHECK(tensors->at("d32").values == expected);
  CHECK(tensors->at("e16").values == std::vector<float>{std::ldexp(1.0f, -24), -std::ldexp(1.0f, -15)});
  CHECK(tensors->at("d32").shape == Shape{5});
}

TEST_CASE("F16 and F64 checkpoints convert") {
  const Dims dims;
  std::map<std::string, RawTensor> raw;
  bool use_f16 = true;
  for (const auto& [name, shape] : model_shapes(dims)) {
    std::vector<float> values(element_count(shape), 0.5f);
    if (use_f16) {
      raw[name] = {"F16", shape, to_bytes(std::vector<uint16_t>(values.size(), 0x3800))};  // 0.5
    } else {
      raw[name] = {"F64", shape, to_bytes(std::vector<double>(values.size(), 0.5))};
    }
    use_f16 = !use_f16;
  }
  auto tensors = cv::parse_safetensors(safetensors_file(raw));
  REQUIRE_MESSAGE(tensors.is_ok(), tensors.status().message());
  auto built = cv::build_model(parse_config(make_config(dims, 0.0)), std::move(tensors).value());
  REQUIRE_MESSAGE(built.is_ok(), built.status().message());
  const fmt::Tensor* weight = find_tensor(built->model, "embed.weight");
  REQUIRE(weight != nullptr);
  std::vector<float> values(weight->element_count());
  std::memcpy(values.data(), weight->data, weight->size);
  CHECK(values == std::vector<float>(values.size(), 0.5f));
}

TEST_CASE("safetensors rejects malformed files") {
  const std::map<std::string, RawTensor> one = {{"w", f32_tensor({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f})}};
  std::vector<std::byte> bytes = safetensors_file(one);
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  const uint64_t data_size = bytes.size() - 8 - header_length;
  REQUIRE(data_size == 16);
  REQUIRE(cv::parse_safetensors(bytes).is_ok());

  const auto set_length = [&](uint64_t length) { std::memcpy(bytes.data(), &length, sizeof(length)); };

  SUBCASE("shorter than the length field") {
    bytes.resize(5);
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"safetensors file is 5 bytes, expected at least 8"});
  }
  SUBCASE("header length past the end") {
    set_length(bytes.size());
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"safetensors header length " + std::to_string(bytes.size()) + " bytes, but only " +
                   std::to_string(bytes.size() - 8) + " bytes follow the length field"});
  }
  SUBCASE("header length above 100 MB") {
    set_length(uint64_t{1} << 40);
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"safetensors header length 1099511627776 bytes, expected at most 104857600"});
  }
  SUBCASE("header that is not JSON") {
    bytes = safetensors_file({}, Json::object(), "{\"w\": [1, 2");
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"safetensors header is not valid JSON", "parse error"});
  }
  SUBCASE("header that is not an object") {
    bytes = safetensors_file({}, Json::object(), "[1, 2, 3]");
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"safetensors header is a JSON array, expected an object"});
  }
  SUBCASE("data offsets past the data section") {
    bytes = safetensors_file(one, {{"w", {{"dtype", "F32"}, {"shape", {2, 2}}, {"data_offsets", {0, 32}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: data_offsets [0, 32], expected begin <= end <= 16"});
  }
  SUBCASE("data offsets in the wrong order") {
    bytes = safetensors_file(one, {{"w", {{"dtype", "F32"}, {"shape", {2, 2}}, {"data_offsets", {16, 0}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: data_offsets [16, 0], expected begin <= end"});
  }
  SUBCASE("byte count that disagrees with the shape") {
    bytes = safetensors_file(one, {{"w", {{"dtype", "F32"}, {"shape", {3, 2}}, {"data_offsets", {0, 16}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: data_offsets [0, 16] hold 16 bytes, expected 24 (shape [3, 2] x 4 bytes of F32)"});
  }
  SUBCASE("shape whose byte count overflows") {
    bytes = safetensors_file(
        one, {{"w", {{"dtype", "F32"}, {"shape", {uint64_t{1} << 32, uint64_t{1} << 31}}, {"data_offsets", {0, 16}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: shape [4294967296, 2147483648] x 4 bytes overflows 64 bits"});
  }
  SUBCASE("negative shape entry") {
    bytes = safetensors_file(one, {{"w", {{"dtype", "F32"}, {"shape", {-2, 2}}, {"data_offsets", {0, 16}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: shape entry -2, expected a non-negative integer"});
  }
  SUBCASE("integer dtype is unsupported") {
    bytes = safetensors_file({{"ids", {"I64", {2}, to_bytes(std::vector<int64_t>{1, 2})}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kUnsupported,
                  {"tensor ids: dtype I64 is not supported, expected F32, F16, BF16 or F64"});
  }
  SUBCASE("unknown dtype is invalid") {
    bytes = safetensors_file({{"q", {"Q4", {2}, to_bytes(std::vector<uint8_t>{1, 2})}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor q: dtype Q4 is not supported"});
  }
  SUBCASE("entry without dtype") {
    bytes = safetensors_file(one, {{"w", {{"shape", {2, 2}}, {"data_offsets", {0, 16}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: missing string \"dtype\""});
  }
  SUBCASE("entry without data offsets") {
    bytes = safetensors_file(one, {{"w", {{"dtype", "F32"}, {"shape", {2, 2}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: \"data_offsets\" missing, expected [begin, end]"});
  }
  SUBCASE("overlapping data offsets") {
    bytes = safetensors_file(one, {{"v", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {8, 16}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor w: data_offsets [0, 16] overlap tensor v: data_offsets [8, 16], expected disjoint byte ranges"});
  }
  SUBCASE("two tensors on the same bytes") {
    bytes = safetensors_file(one, {{"w2", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}}});
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"data_offsets [0, 16] overlap tensor", "expected disjoint byte ranges"});
  }
  // The header overrides below describe the 16 data bytes of `one` differently.
  SUBCASE("range nested inside another") {
    // b = [4, 8) and c = [8, 12) both lie inside a = [0, 16).
    const Json header = {{"a", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}},
                         {"b", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {4, 8}}}},
                         {"c", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {8, 12}}}}};
    bytes = safetensors_file(one, Json::object(), header.dump());
    require_error(cv::parse_safetensors(bytes).status(), StatusCode::kInvalidCheckpoint,
                  {"tensor a: data_offsets [0, 16] overlap tensor b: data_offsets [4, 8]"});
  }
  SUBCASE("adjacent and zero-size tensors are accepted") {
    const Json header = {{"head", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                         {"tail", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {8, 16}}}},
                         {"empty_a", {{"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {8, 8}}}},
                         {"empty_b", {{"dtype", "F32"}, {"shape", {2, 0}}, {"data_offsets", {8, 8}}}}};
    bytes = safetensors_file(one, Json::object(), header.dump());
    const auto parsed = cv::parse_safetensors(bytes);
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
    CHECK(parsed->size() == 4);
    CHECK(parsed->at("tail").values == std::vector<float>{3.0f, 4.0f});
    CHECK(parsed->at("empty_a").values.empty());
    CHECK(parsed->at("empty_b").values.empty());
  }
  SUBCASE("missing file") {
    TempDir dir;
    require_error(cv::read_safetensors(dir.file("none.safetensors")).status(), StatusCode::kNotFound,
                  {"none.safetensors"});
  }
  SUBCASE("file errors carry the path") {
    TempDir dir;
    set_length(bytes.size());
    write_bytes(dir.file("bad.safetensors"), bytes);
    require_error(cv::read_safetensors(dir.file("bad.safetensors")).status(), StatusCode::kInvalidCheckpoint,
                  {"bad.safetensors: safetensors header length"});
  }
}

// ---------------------------------------------------------------------------
// config.json parsing

TEST_CASE("config defaults") {
  const Dims dims;
  Json config = make_config(dims, 0.0);
  config.erase("architecture");
  config.erase("n_concepts");
  config["input"].erase("names");
  config["input"].erase("level_alpha");
  config["output"].erase("channels");
  config["d_model"] = 20;
  const cv::CheckpointConfig parsed = parse_config(config);
  CHECK(parsed.architecture == "infomamba");
  CHECK(parsed.d_inner == 40);
  CHECK(parsed.dt_rank == 2);  // ceil(20 / 16)
  CHECK(parsed.n_concepts == 0);
  CHECK(parsed.d_concept == 0);
  CHECK(parsed.norm_eps == 1e-5);
  CHECK(parsed.concept_eps == 1e-6);
  CHECK(parsed.channel_names == std::vector<std::string>{"x0", "x1", "x2"});
  CHECK(parsed.level_alpha == 0.0);
  CHECK(parsed.input_kind == "continuous");
  CHECK(parsed.output_kind == "forecast");
  CHECK(parsed.horizon == dims.H);
  CHECK(parsed.source_json == config.dump());
  CHECK(parsed.warnings.empty());
}

TEST_CASE("config accepts Hugging Face Mamba key names") {
  const Dims dims;
  Json config = make_config(dims, 0.0);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"d_model", "hidden_size"}, {"n_layers", "num_hidden_layers"}, {"d_state", "state_size"},
           {"d_conv", "conv_kernel"}}) {
    config[to] = config[from];
    config.erase(from);
  }
  config["time_step_rank"] = 3;
  config["layer_norm_epsilon"] = 1e-6;
  config["architecture"] = "mamba";
  const cv::CheckpointConfig parsed = parse_config(config);
  CHECK(parsed.d_model == dims.D);
  CHECK(parsed.n_layers == dims.L);
  CHECK(parsed.d_state == dims.N);
  CHECK(parsed.d_conv == dims.K);
  CHECK(parsed.dt_rank == 3);
  CHECK(parsed.norm_eps == 1e-6);
  CHECK(parsed.architecture == "mamba");
  CHECK(parsed.warnings.empty());

  SUBCASE("time_step_rank auto takes the default") {
    config["time_step_rank"] = "auto";
    CHECK(parse_config(config).dt_rank == 1);
  }
  SUBCASE("a key and its alias must agree") {
    config["d_model"] = 32;
    require_error(cv::parse_checkpoint_config(config.dump()).status(), StatusCode::kInvalidCheckpoint,
                  {"config d_model: 32, but hidden_size (the same setting) is 16"});
  }
  SUBCASE("a Hugging Face language-model config is a token model") {
    config.erase("input");
    config.erase("output");
    config["vocab_size"] = 50280;
    auto language_model = cv::parse_checkpoint_config(config.dump());
    REQUIRE_MESSAGE(language_model.is_ok(), language_model.status().message());
    CHECK(language_model->input_kind == "tokens");
    CHECK(language_model->output_kind == "logits");
    CHECK(language_model->vocab_size == 50280);
  }
}

TEST_CASE("config rejections name the key") {
  const Dims dims;
  Json config = make_config(dims, 0.1);
  StatusCode code = StatusCode::kInvalidCheckpoint;
  std::string expected;

  SUBCASE("missing d_state") {
    config.erase("d_state");
    expected = "config d_state: missing key";
  }
  SUBCASE("missing expand") {
    config.erase("expand");
    expected = "config expand: missing key";
  }
  SUBCASE("missing input") {
    config.erase("input");
    expected = "config input: missing key";
  }
  SUBCASE("missing output horizon") {
    config["output"].erase("horizon");
    expected = "config output.horizon: missing key";
  }
  SUBCASE("missing input mean") {
    config["input"].erase("mean");
    expected = "config input.mean: missing key";
  }
  SUBCASE("d_concept required with concepts") {
    config["n_concepts"] = 4;
    expected = "config d_concept: missing key (required when n_concepts > 0)";
  }
  SUBCASE("fractional d_model") {
    config["d_model"] = 12.5;
    expected = "config d_model: 12.5, expected an integer in [1, 1048576]";
  }
  SUBCASE("zero layers") {
    config["n_layers"] = 0;
    expected = "config n_layers: 0, expected an integer in [1, 1048576]";
  }
  SUBCASE("string d_conv") {
    config["d_conv"] = "4";
    expected = "config d_conv: \"4\", expected an integer";
  }
  SUBCASE("negative norm_eps") {
    config["norm_eps"] = -1e-5;
    expected = "config norm_eps: -1e-05, expected a positive number";
  }
  SUBCASE("unknown architecture") {
    config["architecture"] = "transformer";
    expected = "config architecture: \"transformer\", expected \"infomamba\" or \"mamba\"";
  }
  SUBCASE("mamba architecture with concepts") {
    config["architecture"] = "mamba";
    config["n_concepts"] = 2;
    config["d_concept"] = 4;
    expected = "config n_concepts: 2, expected 0 for architecture \"mamba\"";
  }
  SUBCASE("zero standard deviation") {
    config["input"]["std"][1] = 0.0;
    expected = "config input.std[1]: 0.0, expected a positive number";
  }
  SUBCASE("too few means") {
    config["input"]["mean"] = {1.0, 2.0};
    expected = "config input.mean: 2 values, expected 3 (input.channels)";
  }
  SUBCASE("non-numeric mean") {
    config["input"]["mean"][2] = "high";
    expected = "config input.mean[2]: \"high\", expected a number";
  }
  SUBCASE("duplicate channel names") {
    config["input"]["names"] = {"a", "b", "a"};
    expected = "config input.names[2]: \"a\" appears twice, expected unique channel names";
  }
  SUBCASE("wrong number of channel names") {
    config["input"]["names"] = {"a"};
    expected = "config input.names: 1 names, expected 3 (input.channels)";
  }
  SUBCASE("level_alpha of 1") {
    config["input"]["level_alpha"] = 1.0;
    expected = "config input.level_alpha: 1.0, expected a value in [0, 1)";
  }
  SUBCASE("output channels that differ from input channels") {
    config["output"]["channels"] = 4;
    expected = "config output.channels: 4, expected 3 (input.channels)";
  }
  SUBCASE("zero horizon") {
    config["output"]["horizon"] = 0;
    expected = "config output.horizon: 0, expected an integer in [1, 1048576]";
  }
  SUBCASE("unknown input kind") {
    config["input"]["kind"] = "images";
    expected = "config input.kind: \"images\", expected \"continuous\" or \"tokens\"";
  }
  SUBCASE("token input needs logits output") {
    config["input"] = {{"kind", "tokens"}, {"vocab_size", 256}};
    expected = "config output.kind: \"forecast\", expected \"logits\" for input.kind \"tokens\"";
  }
  SUBCASE("token input needs a vocabulary size") {
    config["input"] = {{"kind", "tokens"}};
    config["output"] = {{"kind", "logits"}};
    expected = "input.vocab_size";
  }
  SUBCASE("logits output needs token input") {
    config["output"] = {{"kind", "logits"}};
    expected = "config output.kind: \"logits\" needs input.kind \"tokens\", found \"continuous\"";
  }

  require_error(cv::parse_checkpoint_config(config.dump()).status(), code, {expected});
}

TEST_CASE("config text that is not a JSON object") {
  require_error(cv::parse_checkpoint_config("{\"d_model\": ").status(), StatusCode::kInvalidCheckpoint,
                {"config is not valid JSON", "parse error"});
  require_error(cv::parse_checkpoint_config("[1, 2]").status(), StatusCode::kInvalidCheckpoint,
                {"config is a JSON array, expected an object"});
}

// ---------------------------------------------------------------------------
// Logging

// spdlog's default logger writes to stdout, which the library never does, so
// the format and converter sources log only through the IMB_LOG_* macros.
TEST_CASE("library sources log through the infomamba logger") {
  size_t checked = 0;
  for (const char* folder : {"format/src", "converters/src"}) {
    for (const auto& entry : std::filesystem::directory_iterator(std::string(IMB_SOURCE_DIR) + "/" + folder)) {
      std::ifstream stream(entry.path(), std::ios::binary);
      const std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
      INFO("source: " << entry.path().string());
      CHECK_FALSE(contains(text, "SPDLOG_"));
      CHECK_FALSE(contains(text, "spdlog::"));
      ++checked;
    }
  }
  CHECK(checked >= 8);
}
