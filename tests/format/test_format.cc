// Tests of the model-file library: round trips, atomic writes and the reader's
// rejection of truncated, corrupted and unsupported files.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <flatbuffers/flatbuffers.h>

#include "infomamba/format/model_file.h"

namespace fmt = infomamba::format;
using infomamba::StatusCode;

namespace {

// A folder under /tmp, removed with its files at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/imb_format_test.XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    for (const std::string& name : list()) ::unlink((path_ + "/" + name).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  std::vector<std::string> list() const {
    std::vector<std::string> names;
    DIR* dir = ::opendir(path_.c_str());
    if (dir == nullptr) return names;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    return names;
  }

 private:
  std::string path_;
};

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  const std::vector<char> chars((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

void write_file(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream stream(path, std::ios::binary);
  stream.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A small valid model: standardize two channels, a streaming level, then a
// Linear layer to three outputs. Weight values are distinct so that a wrong
// offset shows up as wrong bytes.
struct SmallModel {
  fmt::Model model;
  std::vector<float> mean = {1.5f, -2.0f};
  std::vector<float> std_dev = {0.5f, 4.0f};
  std::vector<float> weight = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};  // [3, 2]
  std::vector<float> bias = {-1.0f, 0.0f, 1.0f};                     // [3]
};

fmt::Tensor constant(const std::string& name, std::vector<uint64_t> shape, const std::vector<float>& values) {
  fmt::Tensor tensor;
  tensor.name = name;
  tensor.shape = std::move(shape);
  tensor.is_constant = true;
  tensor.data = reinterpret_cast<const std::byte*>(values.data());
  tensor.size = values.size() * sizeof(float);
  return tensor;
}

fmt::Tensor activation(const std::string& name, std::vector<uint64_t> shape) {
  fmt::Tensor tensor;
  tensor.name = name;
  tensor.shape = std::move(shape);
  return tensor;
}

fmt::Node node(const std::string& name, fmt::OpType op, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
               std::vector<uint32_t> states = {}) {
  fmt::Node result;
  result.name = name;
  result.op = op;
  result.inputs = std::move(inputs);
  result.outputs = std::move(outputs);
  result.states = std::move(states);
  return result;
}

// Tensor indices of the small model.
enum : int32_t { kObservation, kMean, kStd, kStandardized, kDeviation, kLevel, kWeight, kBias, kOutput };

// Returns a heap object because the model's constants point into its vectors.
std::unique_ptr<SmallModel> make_small_model() {
  auto small = std::make_unique<SmallModel>();
  fmt::Model& model = small->model;
  model.tensors = {
      activation("observation", {2}),
      constant("input.mean", {2}, small->mean),
      constant("input.std", {2}, small->std_dev),
      activation("input.standardized", {2}),
      activation("input.deviation", {2}),
      activation("input.level", {2}),
      constant("head.weight", {3, 2}, small->weight),
      constant("head.bias", {3}, small->bias),
      activation("head.out", {3}),
  };
  fmt::State level_sum;
  level_sum.name = "input.level_sum";
  level_sum.shape = {2};
  fmt::State decay;
  decay.name = "input.decay";
  decay.shape = {1};
  decay.initial_value = 1.0f;
  model.states = {level_sum, decay};

  model.nodes = {
      node("input.standardize", fmt::OpType::kStandardize, {kObservation, kMean, kStd}, {kStandardized}),
      node("input.streaming_level", fmt::OpType::kStreamingLevel, {kStandardized}, {kDeviation, kLevel}, {0, 1}),
      node("head", fmt::OpType::kLinear, {kDeviation, kWeight, kBias}, {kOutput}),
  };
  fmt::Attribute alpha;
  alpha.name = "alpha";
  alpha.f = 0.25;
  model.nodes[1].attributes.push_back(alpha);
  fmt::Attribute mixed;
  mixed.name = "mixed";
  mixed.i = -7;
  mixed.s = "silu";
  mixed.ints = {1, -2, 3};
  mixed.floats = {0.5, -1.25};
  model.nodes[2].attributes.push_back(mixed);

  model.inputs = {kObservation};
  model.outputs = {kOutput};

  fmt::Metadata& metadata = model.metadata;
  metadata.spec_version = "infomamba-1";
  metadata.architecture = "infomamba";
  metadata.producer = "test_format";
  metadata.channel_names = {"load", "temperature"};
  metadata.mean = {1.5, -2.0};
  metadata.std = {0.5, 4.0};
  metadata.horizon = 1;
  metadata.level_alpha = 0.25;
  metadata.config_json = "{\"d_model\": 3}";
  return small;
}

std::vector<std::byte> serialize_small_model() {
  auto small = make_small_model();
  auto bytes = fmt::serialize_model(small->model);
  REQUIRE_MESSAGE(bytes.is_ok(), bytes.status().message());
  return std::move(bytes).value();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Field slots of the schema's tables as FlatBuffers numbers them: 4 + 2 x the
// field's position in infomamba.fbs. The writer stores every field, defaults
// included, so each of them can be patched in place.
namespace slot {
constexpr flatbuffers::voffset_t kModelFormatVersion = 4, kModelGraph = 8, kModelSegments = 10;
constexpr flatbuffers::voffset_t kSegmentOffset = 4, kSegmentSize = 6, kSegmentCompression = 8,
                                  kSegmentUncompressedSize = 10;
constexpr flatbuffers::voffset_t kTensorDtype = 6, kTensorShape = 8, kTensorSegment = 10, kTensorSize = 14;
constexpr flatbuffers::voffset_t kGraphTensors = 4, kGraphNodes = 6, kGraphInputs = 8, kGraphOutputs = 10;
constexpr flatbuffers::voffset_t kNodeOp = 6, kNodeInputs = 8, kNodeOutputs = 10, kNodeStates = 12;
}  // namespace slot

using TableVector = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::Table>>;

// Edits fields of a serialized model in place, without the generated code.
class Patcher {
 public:
  explicit Patcher(std::vector<std::byte>& bytes) : bytes_(bytes) {}

  flatbuffers::Table* root() {
    return flatbuffers::GetMutableSizePrefixedRoot<flatbuffers::Table>(bytes_.data());
  }
  flatbuffers::Table* graph() { return root()->GetPointer<flatbuffers::Table*>(slot::kModelGraph); }
  flatbuffers::Table* element(flatbuffers::Table* table, flatbuffers::voffset_t field, size_t index) {
    auto* vector = table->GetPointer<TableVector*>(field);
    REQUIRE(vector != nullptr);
    REQUIRE(index < vector->size());
    return const_cast<flatbuffers::Table*>(vector->Get(static_cast<flatbuffers::uoffset_t>(index)));
  }
  flatbuffers::Table* segment(size_t index) { return element(root(), slot::kModelSegments, index); }
  flatbuffers::Table* tensor(size_t index) { return element(graph(), slot::kGraphTensors, index); }
  flatbuffers::Table* node(size_t index) { return element(graph(), slot::kGraphNodes, index); }

  template <typename T>
  void set(flatbuffers::Table* table, flatbuffers::voffset_t field, T value) {
    REQUIRE_MESSAGE(table->SetField<T>(field, value), "field slot " << field << " is not stored");
  }

  template <typename T>
  T get(flatbuffers::Table* table, flatbuffers::voffset_t field) {
    REQUIRE(table->CheckField(field));
    return table->GetField<T>(field, T{});
  }

  template <typename T>
  void set_vector_element(flatbuffers::Table* table, flatbuffers::voffset_t field, size_t index, T value) {
    auto* vector = table->GetPointer<flatbuffers::Vector<T>*>(field);
    REQUIRE(vector != nullptr);
    REQUIRE(index < vector->size());
    vector->Mutate(static_cast<flatbuffers::uoffset_t>(index), value);
  }

 private:
  std::vector<std::byte>& bytes_;
};

uint64_t buffer_end(const std::vector<std::byte>& bytes) {
  uint32_t size = 0;
  std::memcpy(&size, bytes.data(), sizeof(size));
  return uint64_t{size} + 4;
}

// Reads `bytes` and requires the error `code` with every part of `parts` in its message.
void require_rejected(const std::vector<std::byte>& bytes, StatusCode code, const std::vector<std::string>& parts) {
  const auto result = fmt::read_model(bytes);
  REQUIRE_FALSE(result.is_ok());
  const std::string message = result.status().message();
  INFO("message: " << message);
  CHECK(result.status().code() == code);
  for (const std::string& part : parts) CHECK_MESSAGE(contains(message, part), "missing \"" << part << "\"");
}

}  // namespace

TEST_CASE("dtype sizes and names") {
  CHECK(fmt::dtype_size(fmt::DType::kF32) == 4);
  CHECK(fmt::dtype_size(fmt::DType::kF16) == 2);
  CHECK(fmt::dtype_size(fmt::DType::kBF16) == 2);
  CHECK(fmt::dtype_size(fmt::DType::kI8) == 1);
  CHECK(fmt::dtype_size(fmt::DType::kI32) == 4);
  CHECK(std::string(fmt::dtype_name(fmt::DType::kBF16)) == "BF16");
  CHECK(std::string(fmt::op_type_name(fmt::OpType::kSelectiveScan)) == "SelectiveScan");
  CHECK(std::string(fmt::op_type_name(fmt::OpType::kEmbedding)) == "Embedding");
  CHECK(std::string(fmt::op_type_name(static_cast<fmt::OpType>(fmt::kMaxOpType + 1))) == "unknown");
}

TEST_CASE("element counts and attribute lookup") {
  fmt::Tensor scalar;
  CHECK(scalar.element_count() == 1);
  fmt::Tensor matrix = activation("m", {3, 4, 5});
  CHECK(matrix.element_count() == 60);
  fmt::Tensor empty = activation("e", {3, 0});
  CHECK(empty.element_count() == 0);
  fmt::Tensor huge = activation("h", {uint64_t{1} << 40, uint64_t{1} << 40});
  CHECK(huge.element_count() == UINT64_MAX);

  fmt::State state;
  state.shape = {16, 8};
  CHECK(state.element_count() == 128);

  auto small = make_small_model();
  const fmt::Attribute* alpha = small->model.nodes[1].find_attribute("alpha");
  REQUIRE(alpha != nullptr);
  CHECK(alpha->f == 0.25);
  CHECK(small->model.nodes[1].find_attribute("beta") == nullptr);
}

TEST_CASE("model round trip through a file") {
  TempDir dir;
  auto small = make_small_model();
  const std::string path = dir.file("small.imb");
  const auto written = fmt::write_model_file(small->model, path);
  REQUIRE_MESSAGE(written.is_ok(), written.message());

  auto file = fmt::MappedFile::open(path);
  REQUIRE_MESSAGE(file.is_ok(), file.status().message());
  CHECK(file->path() == path);
  auto read = fmt::read_model(file->bytes());
  REQUIRE_MESSAGE(read.is_ok(), read.status().message());
  const fmt::Model& model = read.value();
  const fmt::Model& original = small->model;

  CHECK(model.format_version == fmt::kFormatVersion);
  CHECK(model.metadata.spec_version == "infomamba-1");
  CHECK(model.metadata.architecture == "infomamba");
  CHECK(model.metadata.producer == "test_format");
  CHECK(model.metadata.input_kind == fmt::InputKind::kContinuous);
  CHECK(model.metadata.output_kind == fmt::OutputKind::kForecast);
  CHECK(model.metadata.channel_names == original.metadata.channel_names);
  CHECK(model.metadata.mean == original.metadata.mean);
  CHECK(model.metadata.std == original.metadata.std);
  CHECK(model.metadata.horizon == 1);
  CHECK(model.metadata.level_alpha == 0.25);
  CHECK(model.metadata.config_json == original.metadata.config_json);

  REQUIRE(model.tensors.size() == original.tensors.size());
  const std::byte* file_start = file->bytes().data();
  size_t constants = 0;
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const fmt::Tensor& got = model.tensors[i];
    const fmt::Tensor& want = original.tensors[i];
    INFO("tensor " << want.name);
    CHECK(got.name == want.name);
    CHECK(got.dtype == fmt::DType::kF32);
    CHECK(got.shape == want.shape);
    CHECK(got.is_constant == want.is_constant);
    if (!want.is_constant) {
      CHECK(got.data == nullptr);
      continue;
    }
    ++constants;
    REQUIRE(got.data != nullptr);
    CHECK(got.size == want.size);
    CHECK(got.data >= file_start);
    CHECK(got.data + got.size <= file_start + file->bytes().size());
    CHECK((got.data - file_start) % static_cast<std::ptrdiff_t>(fmt::kSegmentAlignment) == 0);
    CHECK(std::memcmp(got.data, want.data, want.size) == 0);
  }
  CHECK(constants == 4);

  REQUIRE(model.nodes.size() == original.nodes.size());
  for (size_t i = 0; i < model.nodes.size(); ++i) {
    INFO("node " << original.nodes[i].name);
    CHECK(model.nodes[i].name == original.nodes[i].name);
    CHECK(model.nodes[i].op == original.nodes[i].op);
    CHECK(model.nodes[i].inputs == original.nodes[i].inputs);
    CHECK(model.nodes[i].outputs == original.nodes[i].outputs);
    CHECK(model.nodes[i].states == original.nodes[i].states);
    CHECK(model.nodes[i].attributes.size() == original.nodes[i].attributes.size());
  }
  const fmt::Attribute* mixed = model.nodes[2].find_attribute("mixed");
  REQUIRE(mixed != nullptr);
  CHECK(mixed->i == -7);
  CHECK(mixed->s == "silu");
  CHECK(mixed->ints == std::vector<int64_t>{1, -2, 3});
  CHECK(mixed->floats == std::vector<double>{0.5, -1.25});

  REQUIRE(model.states.size() == 2);
  CHECK(model.states[0].name == "input.level_sum");
  CHECK(model.states[0].shape == std::vector<uint64_t>{2});
  CHECK(model.states[1].initial_value == 1.0f);
  CHECK(model.inputs == original.inputs);
  CHECK(model.outputs == original.outputs);

  // A valid file reads the same without the verifier pass.
  auto unverified = fmt::read_model(file->bytes(), fmt::ReadOptions{.verify_flatbuffer = false});
  REQUIRE(unverified.is_ok());
  CHECK(unverified->nodes.size() == model.nodes.size());
  CHECK(unverified->tensors[kWeight].data == model.tensors[kWeight].data);

  // serialize_model produces exactly the bytes of the file.
  const auto bytes = fmt::serialize_model(original);
  REQUIRE(bytes.is_ok());
  CHECK(bytes.value() == read_file(path));
}

TEST_CASE("model without constants round trips") {
  fmt::Model model;
  model.tensors = {activation("a", {4}), activation("b", {4}), activation("sum", {4})};
  model.nodes = {node("add", fmt::OpType::kAdd, {0, 1}, {2})};
  model.inputs = {0, 1};
  model.outputs = {2};
  model.metadata.channel_names = {"x"};
  model.metadata.mean = {0.0};
  model.metadata.std = {1.0};
  model.metadata.horizon = 4;
  const auto bytes = fmt::serialize_model(model);
  REQUIRE_MESSAGE(bytes.is_ok(), bytes.status().message());
  CHECK(bytes->size() == buffer_end(bytes.value()));
  const auto read = fmt::read_model(bytes.value());
  REQUIRE_MESSAGE(read.is_ok(), read.status().message());
  CHECK(read->nodes.size() == 1);
  CHECK(read->tensors[2].size == 16);
}

TEST_CASE("write replaces an existing file atomically") {
  TempDir dir;
  const std::string path = dir.file("model.imb");
  const std::vector<std::byte> old_bytes(100, std::byte{0x5a});
  write_file(path, old_bytes);

  SUBCASE("a valid model replaces the file and leaves no temporary file") {
    auto small = make_small_model();
    REQUIRE(fmt::write_model_file(small->model, path).is_ok());
    CHECK(read_file(path) == fmt::serialize_model(small->model).value());
    CHECK(dir.list() == std::vector<std::string>{"model.imb"});
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0644);
  }

  SUBCASE("an invalid model leaves the old file untouched") {
    auto small = make_small_model();
    small->model.nodes[2].inputs[1] = 99;
    const auto status = fmt::write_model_file(small->model, path);
    REQUIRE_FALSE(status.is_ok());
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK(contains(status.message(), "graph.nodes[2] (head): input 1 is tensor index 99, expected -1 or a value below 9"));
    CHECK(read_file(path) == old_bytes);
    CHECK(dir.list() == std::vector<std::string>{"model.imb"});
  }

  SUBCASE("a constant whose size disagrees with its shape is rejected before writing") {
    auto small = make_small_model();
    small->model.tensors[kWeight].size = 20;
    const auto status = fmt::write_model_file(small->model, path);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK(contains(status.message(), "size 20 bytes, expected 24 (shape [3, 2] x 4 bytes)"));
    CHECK(read_file(path) == old_bytes);
    CHECK(dir.list() == std::vector<std::string>{"model.imb"});
  }

  SUBCASE("an empty path is rejected before anything is written") {
    auto small = make_small_model();
    const auto status = fmt::write_model_file(small->model, "");
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK(status.message() == "output path is empty");
    CHECK(read_file(path) == old_bytes);
  }

  SUBCASE("a missing folder is an I/O error") {
    auto small = make_small_model();
    const auto status = fmt::write_model_file(small->model, dir.file("no_such_folder/model.imb"));
    CHECK(status.code() == StatusCode::kIoError);
    CHECK(contains(status.message(), "no_such_folder/model.imb"));
    CHECK(contains(status.message(), "No such file or directory"));
  }
}

TEST_CASE("write keeps special files and follows links") {
  TempDir dir;
  auto small = make_small_model();

  SUBCASE("a FIFO at the output path is rejected and stays a FIFO") {
    const std::string fifo = dir.file("out.fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto status = fmt::write_model_file(small->model, fifo);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK(contains(status.message(), "is not a regular file (it is a FIFO)"));
    struct stat info {};
    REQUIRE(::lstat(fifo.c_str(), &info) == 0);
    CHECK(S_ISFIFO(info.st_mode));
    CHECK(dir.list() == std::vector<std::string>{"out.fifo"});
  }

  SUBCASE("a folder at the output path is rejected") {
    const std::string folder = dir.path();
    const auto status = fmt::write_model_file(small->model, folder);
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK(contains(status.message(), "(it is a folder)"));
  }

  SUBCASE("a symbolic link is written through to its target") {
    const std::string target = dir.file("target.imb");
    const std::string link = dir.file("link.imb");
    write_file(target, std::vector<std::byte>(10, std::byte{1}));
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    REQUIRE(fmt::write_model_file(small->model, link).is_ok());
    struct stat info {};
    REQUIRE(::lstat(link.c_str(), &info) == 0);
    CHECK(S_ISLNK(info.st_mode));
    CHECK(read_file(target) == fmt::serialize_model(small->model).value());
  }
}

TEST_CASE("mapped file errors") {
  TempDir dir;

  SUBCASE("missing file") {
    const auto file = fmt::MappedFile::open(dir.file("absent.imb"));
    REQUIRE_FALSE(file.is_ok());
    CHECK(file.status().code() == StatusCode::kNotFound);
    CHECK(contains(file.status().message(), "absent.imb"));
    CHECK(contains(file.status().message(), "No such file or directory"));
  }

  SUBCASE("empty file maps to an empty span that the reader rejects") {
    write_file(dir.file("empty.imb"), {});
    auto file = fmt::MappedFile::open(dir.file("empty.imb"));
    REQUIRE(file.is_ok());
    CHECK(file->bytes().empty());
    const auto read = fmt::read_model(file->bytes());
    REQUIRE_FALSE(read.is_ok());
    CHECK(read.status().code() == StatusCode::kInvalidModel);
    CHECK(contains(read.status().message(), "file is 0 bytes, expected at least 12"));
  }

  SUBCASE("missing file error quotes the path") {
    const auto file = fmt::MappedFile::open(dir.file("absent.imb"));
    CHECK(contains(file.status().message(), "open of '" + dir.file("absent.imb") + "' failed"));
  }

  SUBCASE("folder") {
    const auto file = fmt::MappedFile::open(dir.path());
    REQUIRE_FALSE(file.is_ok());
    CHECK(file.status().code() == StatusCode::kIoError);
    CHECK(file.status().message() == "'" + dir.path() + "' is not a regular file (it is a folder)");
  }

  // A FIFO without a writer blocks a plain open() forever, so the alarm ends
  // the program with SIGALRM if the open blocks.
  SUBCASE("FIFO is rejected without blocking") {
    const std::string fifo = dir.file("model.imb");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    ::alarm(20);
    const auto file = fmt::MappedFile::open(fifo);
    ::alarm(0);
    REQUIRE_FALSE(file.is_ok());
    CHECK(file.status().code() == StatusCode::kIoError);
    CHECK(file.status().message() == "'" + fifo + "' is not a regular file (it is a FIFO)");
  }

  SUBCASE("link to a character device is rejected") {
    const std::string link = dir.file("zero.imb");
    REQUIRE(::symlink("/dev/zero", link.c_str()) == 0);
    const auto file = fmt::MappedFile::open(link);
    REQUIRE_FALSE(file.is_ok());
    CHECK(file.status().code() == StatusCode::kIoError);
    CHECK(file.status().message() == "'" + link + "' is not a regular file (it is a character device)");
  }

  SUBCASE("link to a regular file is followed") {
    write_file(dir.file("data.bin"), std::vector<std::byte>(6, std::byte{3}));
    REQUIRE(::symlink(dir.file("data.bin").c_str(), dir.file("link.bin").c_str()) == 0);
    uint64_t size_bytes = 0;
    auto fd = fmt::open_regular_file(dir.file("link.bin"), &size_bytes);
    REQUIRE(fd.is_ok());
    CHECK(size_bytes == 6);
    CHECK(::close(*fd) == 0);
  }

  SUBCASE("move keeps the mapping") {
    write_file(dir.file("data.bin"), std::vector<std::byte>(10, std::byte{7}));
    auto file = fmt::MappedFile::open(dir.file("data.bin"));
    REQUIRE(file.is_ok());
    fmt::MappedFile moved = std::move(file).value();
    REQUIRE(moved.bytes().size() == 10);
    CHECK(moved.bytes()[9] == std::byte{7});
    fmt::MappedFile target = std::move(moved);
    CHECK(target.bytes().size() == 10);
    CHECK(moved.bytes().empty());  // NOLINT: the moved-from state is specified as empty
  }
}

TEST_CASE("reader rejects truncated files") {
  const std::vector<std::byte> bytes = serialize_small_model();
  const uint64_t header_end = buffer_end(bytes);
  REQUIRE(bytes.size() > header_end + 64);

  // Cuts before the identifier, inside the FlatBuffer, just after it, and inside
  // the first and the last segment.
  const std::vector<uint64_t> header_cuts = {0, 3, 11};
  const std::vector<uint64_t> buffer_cuts = {12, 40, header_end / 2, header_end - 1};
  const std::vector<uint64_t> segment_cuts = {header_end, header_end + 70, bytes.size() - 9, bytes.size() - 1};

  for (uint64_t cut : header_cuts) {
    CAPTURE(cut);
    const std::vector<std::byte> truncated(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    require_rejected(truncated, StatusCode::kInvalidModel,
                     {"file is " + std::to_string(cut) + " bytes, expected at least 12"});
  }
  for (uint64_t cut : buffer_cuts) {
    CAPTURE(cut);
    const std::vector<std::byte> truncated(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    require_rejected(truncated, StatusCode::kInvalidModel,
                     {"file is " + std::to_string(cut) + " bytes, but the size prefix says the metadata buffer is " +
                      std::to_string(header_end - 4) + " bytes"});
  }
  for (uint64_t cut : segment_cuts) {
    CAPTURE(cut);
    const std::vector<std::byte> truncated(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    require_rejected(truncated, StatusCode::kInvalidModel,
                     {"segments[", "end past the file, which is " + std::to_string(cut) + " bytes"});
  }
}

TEST_CASE("reader rejects misaligned bytes") {
  const std::vector<std::byte> bytes = serialize_small_model();
  std::vector<std::byte> shifted(bytes.size() + 4);
  std::memcpy(shifted.data() + 4, bytes.data(), bytes.size());
  const auto result = fmt::read_model(std::span<const std::byte>(shifted).subspan(4));
  REQUIRE_FALSE(result.is_ok());
  CHECK(result.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(result.status().message(), "expected a multiple of 8"));
}

TEST_CASE("reader rejects a wrong identifier") {
  std::vector<std::byte> bytes = serialize_small_model();
  std::memcpy(bytes.data() + 8, "XXXX", 4);
  require_rejected(bytes, StatusCode::kInvalidModel, {"file identifier \"XXXX\", expected \"IMB1\""});

  bytes[8] = std::byte{0x01};
  require_rejected(bytes, StatusCode::kInvalidModel, {"file identifier \"\\x01XXX\""});
}

TEST_CASE("reader rejects a bad size prefix") {
  std::vector<std::byte> bytes = serialize_small_model();
  const uint32_t too_small = 4;
  std::memcpy(bytes.data(), &too_small, sizeof(too_small));
  require_rejected(bytes, StatusCode::kInvalidModel, {"size prefix says the metadata buffer is 4 bytes, expected at least 8"});

  const uint32_t too_large = 5000;
  std::memcpy(bytes.data(), &too_large, sizeof(too_large));
  require_rejected(bytes, StatusCode::kInvalidModel,
                   {"file is " + std::to_string(bytes.size()) +
                    " bytes, but the size prefix says the metadata buffer is 5000 bytes"});
}

TEST_CASE("verifier is on by default and catches bad offsets") {
  CHECK(fmt::ReadOptions{}.verify_flatbuffer);

  std::vector<std::byte> bytes = serialize_small_model();
  Patcher patcher(bytes);
  // Point the graph table far outside the buffer.
  uint8_t* graph_field = patcher.root()->GetAddressOf(slot::kModelGraph);
  REQUIRE(graph_field != nullptr);
  const uint32_t outside = 0x7fff0000;
  std::memcpy(graph_field, &outside, sizeof(outside));
  require_rejected(bytes, StatusCode::kInvalidModel, {"failed FlatBuffers verification"});
}

TEST_CASE("reader rejects unsupported and invalid versions") {
  std::vector<std::byte> bytes = serialize_small_model();
  Patcher patcher(bytes);
  patcher.set<uint32_t>(patcher.root(), slot::kModelFormatVersion, 2);
  require_rejected(bytes, StatusCode::kUnsupported, {"format_version 2, expected 1"});
  patcher.set<uint32_t>(patcher.root(), slot::kModelFormatVersion, 0);
  require_rejected(bytes, StatusCode::kInvalidModel, {"format_version 0, expected 1"});
}

TEST_CASE("reader rejects bad segments") {
  std::vector<std::byte> bytes = serialize_small_model();
  Patcher patcher(bytes);
  auto* segment = patcher.segment(2);
  const uint64_t offset = patcher.get<uint64_t>(segment, slot::kSegmentOffset);
  REQUIRE(offset % 64 == 0);
  REQUIRE(offset >= buffer_end(bytes));

  SUBCASE("misaligned offset") {
    patcher.set<uint64_t>(segment, slot::kSegmentOffset, offset + 8);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"segments[2]: offset " + std::to_string(offset + 8) + ", expected a multiple of 64"});
  }
  SUBCASE("offset past the end of the file") {
    const uint64_t past = (bytes.size() / 64 + 2) * 64;
    patcher.set<uint64_t>(segment, slot::kSegmentOffset, past);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"segments[2]: bytes [" + std::to_string(past) + ", ",
                      "end past the file, which is " + std::to_string(bytes.size()) + " bytes"});
  }
  SUBCASE("offset plus size overflows") {
    const uint64_t huge = UINT64_MAX - 63;  // the largest multiple of 64
    patcher.set<uint64_t>(segment, slot::kSegmentOffset, huge);
    patcher.set<uint64_t>(segment, slot::kSegmentSize, 128);
    patcher.set<uint64_t>(segment, slot::kSegmentUncompressedSize, 128);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"segments[2]: offset " + std::to_string(huge) + " + size 128 overflows 64 bits"});
  }
  SUBCASE("uncompressed size that disagrees with the size") {
    patcher.set<uint64_t>(segment, slot::kSegmentSize, uint64_t{1} << 40);
    require_rejected(bytes, StatusCode::kInvalidModel, {"segments[2]: uncompressed_size 24, expected 1099511627776"});
  }
  SUBCASE("offset inside the metadata buffer") {
    patcher.set<uint64_t>(segment, slot::kSegmentOffset, 0);
    require_rejected(bytes, StatusCode::kInvalidModel, {"segments[2]: offset 0 overlaps the metadata buffer"});
  }
  SUBCASE("compression Zstd is unsupported") {
    patcher.set<uint8_t>(segment, slot::kSegmentCompression, 1);
    require_rejected(bytes, StatusCode::kUnsupported, {"segments[2]: compression Zstd is not supported, expected None"});
  }
  SUBCASE("unknown compression is invalid") {
    patcher.set<uint8_t>(segment, slot::kSegmentCompression, 9);
    require_rejected(bytes, StatusCode::kInvalidModel, {"segments[2]: compression 9"});
  }
}

TEST_CASE("reader rejects bad tensors") {
  std::vector<std::byte> bytes = serialize_small_model();
  Patcher patcher(bytes);
  auto* weight = patcher.tensor(kWeight);

  SUBCASE("shape that disagrees with the byte size") {
    patcher.set_vector_element<uint64_t>(weight, slot::kTensorShape, 1, 4);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.tensors[6] (head.weight): size 24 bytes, expected 48 (shape [3, 4] x 4 bytes)"});
  }
  SUBCASE("shape whose byte count overflows") {
    patcher.set_vector_element<uint64_t>(weight, slot::kTensorShape, 0, uint64_t{1} << 62);
    require_rejected(bytes, StatusCode::kInvalidModel, {"graph.tensors[6] (head.weight): shape [", "overflows 64 bits"});
  }
  SUBCASE("bytes past the end of the segment") {
    patcher.set<uint64_t>(weight, slot::kTensorSize, 28);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.tensors[6] (head.weight): bytes [0, 28) end past segment 2, which is 24 bytes"});
  }
  SUBCASE("segment index out of range") {
    patcher.set<int32_t>(weight, slot::kTensorSegment, 4);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.tensors[6] (head.weight): segment 4, expected -1 or a value below 4"});
  }
  SUBCASE("segment index below -1") {
    patcher.set<int32_t>(weight, slot::kTensorSegment, -3);
    require_rejected(bytes, StatusCode::kInvalidModel, {"segment -3, expected -1 or a value below 4"});
  }
  SUBCASE("dtype F16 is unsupported") {
    patcher.set<uint8_t>(weight, slot::kTensorDtype, 1);
    require_rejected(bytes, StatusCode::kUnsupported,
                     {"graph.tensors[6] (head.weight): dtype F16 is not supported, expected F32"});
  }
  SUBCASE("unknown dtype is invalid") {
    patcher.set<uint8_t>(weight, slot::kTensorDtype, 200);
    require_rejected(bytes, StatusCode::kInvalidModel, {"graph.tensors[6] (head.weight): dtype 200, expected a value in 0..4"});
  }
}

TEST_CASE("reader rejects bad node and graph indices") {
  std::vector<std::byte> bytes = serialize_small_model();
  Patcher patcher(bytes);

  SUBCASE("input index past the tensor count") {
    patcher.set_vector_element<int32_t>(patcher.node(2), slot::kNodeInputs, 1, 99);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[2] (head): input 1 is tensor index 99, expected -1 or a value below 9"});
  }
  SUBCASE("input index below -1") {
    patcher.set_vector_element<int32_t>(patcher.node(0), slot::kNodeInputs, 0, -2);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[0] (input.standardize): input 0 is tensor index -2"});
  }
  SUBCASE("input that no earlier node produces") {
    patcher.set_vector_element<int32_t>(patcher.node(0), slot::kNodeInputs, 0, kOutput);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[0] (input.standardize): input 0 is tensor 8 (head.out), which is not a graph "
                      "input and which no earlier node produces"});
  }
  SUBCASE("output index out of range") {
    patcher.set_vector_element<int32_t>(patcher.node(2), slot::kNodeOutputs, 0, -1);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[2] (head): output 0 is tensor index -1, expected a value in [0, 9)"});
  }
  SUBCASE("output that is a constant") {
    patcher.set_vector_element<int32_t>(patcher.node(2), slot::kNodeOutputs, 0, kBias);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[2] (head): output 0 is tensor 7 (head.bias), a constant"});
  }
  SUBCASE("activation produced twice") {
    patcher.set_vector_element<int32_t>(patcher.node(2), slot::kNodeOutputs, 0, kLevel);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[2] (head): output 0 is tensor 5 (input.level), which graph.nodes[1] "
                      "(input.streaming_level) already produces"});
  }
  SUBCASE("output that is a graph input") {
    patcher.set_vector_element<int32_t>(patcher.node(0), slot::kNodeOutputs, 0, kObservation);
    require_rejected(bytes, StatusCode::kInvalidModel, {"graph.nodes[0] (input.standardize): output 0 is tensor 0 (observation), a graph input"});
  }
  SUBCASE("state index out of range") {
    patcher.set_vector_element<uint32_t>(patcher.node(1), slot::kNodeStates, 1, 2);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[1] (input.streaming_level): state 1 is index 2, expected a value below 2"});
  }
  SUBCASE("state owned twice") {
    patcher.set_vector_element<uint32_t>(patcher.node(1), slot::kNodeStates, 1, 0);
    require_rejected(bytes, StatusCode::kInvalidModel,
                     {"graph.nodes[1] (input.streaming_level): state 1 is graph.states[0] (input.level_sum), which "
                      "graph.nodes[1] (input.streaming_level) already owns"});
  }
  SUBCASE("unknown op") {
    patcher.set<uint16_t>(patcher.node(2), slot::kNodeOp, 42);
    require_rejected(bytes, StatusCode::kInvalidModel, {"graph.nodes[2] (head): op 42, expected a value in 0..11"});
  }
  SUBCASE("graph input out of range") {
    patcher.set_vector_element<uint32_t>(patcher.graph(), slot::kGraphInputs, 0, 9);
    require_rejected(bytes, StatusCode::kInvalidModel, {"graph.inputs[0]: tensor index 9, expected a value below 9"});
  }
  SUBCASE("graph input that is a constant") {
    patcher.set_vector_element<uint32_t>(patcher.graph(), slot::kGraphInputs, 0, kMean);
    require_rejected(bytes, StatusCode::kInvalidModel, {"graph.inputs[0]: tensor 1 (input.mean) is a constant"});
  }
  SUBCASE("graph output out of range") {
    patcher.set_vector_element<uint32_t>(patcher.graph(), slot::kGraphOutputs, 0, 1000);
    require_rejected(bytes, StatusCode::kInvalidModel, {"graph.outputs[0]: tensor index 1000, expected a value below 9"});
  }
}

TEST_CASE("reader rejects bad graphs built through the writer") {
  // The writer reads every model back before returning it, so the reader's graph
  // and metadata checks surface as the writer's kInvalidArgument errors.
  auto small = make_small_model();
  fmt::Model& model = small->model;
  std::string expected;

  SUBCASE("graph output that nothing produces") {
    model.tensors.push_back(activation("orphan", {1}));
    model.outputs.push_back(9);
    expected = "graph.outputs[1]: tensor 9 (orphan) is produced by no node and is not a graph input";
  }
  SUBCASE("graph input listed twice") {
    model.inputs.push_back(kObservation);
    expected = "graph.inputs[1]: tensor 0 (observation) is listed twice";
  }
  SUBCASE("fewer means than channel names") {
    model.metadata.mean.pop_back();
    expected = "metadata.mean: 1 values, expected 2 (one per entry of metadata.channel_names)";
  }
  SUBCASE("fewer standard deviations than channel names") {
    model.metadata.std.pop_back();
    expected = "metadata.std: 1 values, expected 2";
  }
  SUBCASE("zero standard deviation") {
    model.metadata.std[1] = 0.0;
    expected = "metadata.std[1]: 0, expected a positive finite value";
  }
  SUBCASE("infinite standard deviation") {
    model.metadata.std[0] = HUGE_VAL;
    expected = "metadata.std[0]: inf, expected a positive finite value";
  }
  SUBCASE("NaN mean") {
    model.metadata.mean[0] = std::nan("");
    expected = "metadata.mean[0]: nan, expected a finite value";
  }
  SUBCASE("zero horizon for a forecast") {
    model.metadata.horizon = 0;
    expected = "metadata.horizon: 0, expected a positive step count";
  }
  SUBCASE("no channels for continuous input") {
    model.metadata.channel_names.clear();
    model.metadata.mean.clear();
    model.metadata.std.clear();
    expected = "metadata.channel_names: 0 entries, expected at least one channel";
  }
  SUBCASE("level_alpha of 1") {
    model.metadata.level_alpha = 1.0;
    expected = "metadata.level_alpha: 1, expected a value in [0, 1)";
  }
  SUBCASE("token output without a vocabulary size") {
    model.metadata.output_kind = fmt::OutputKind::kLogits;
    expected = "metadata.vocab_size: 0, expected a positive vocabulary size";
  }
  SUBCASE("non-finite initial state value") {
    model.states[1].initial_value = std::nanf("");
    expected = "graph.states[1] (input.decay): initial_value nan, expected a finite value";
  }

  const auto bytes = fmt::serialize_model(model);
  REQUIRE_FALSE(bytes.is_ok());
  INFO("message: " << bytes.status().message());
  CHECK(bytes.status().code() == StatusCode::kInvalidArgument);
  CHECK(contains(bytes.status().message(), "model fails verification: "));
  CHECK(contains(bytes.status().message(), expected));
}

TEST_CASE("writer reports non-F32 tensors as unsupported") {
  auto small = make_small_model();
  // Six F32 values reinterpreted as twelve F16 values keep the byte size consistent.
  small->model.tensors[kWeight].dtype = fmt::DType::kF16;
  small->model.tensors[kWeight].shape = {3, 4};
  const auto bytes = fmt::serialize_model(small->model);
  REQUIRE_FALSE(bytes.is_ok());
  CHECK(bytes.status().code() == StatusCode::kUnsupported);
  CHECK(contains(bytes.status().message(), "graph.tensors[6] (head.weight): dtype F16 is not supported"));
}

TEST_CASE("reader survives random corruption") {
  const std::vector<std::byte> valid = serialize_small_model();
  const uint64_t header_end = buffer_end(valid);
  std::mt19937_64 random(20240611);
  size_t accepted = 0;
  size_t rejected = 0;

  const auto run = [&](const std::vector<std::byte>& bytes) {
    const auto result = fmt::read_model(bytes);
    if (result.is_ok()) {
      ++accepted;
      // Whatever the reader accepts must be safe to walk.
      for (const fmt::Tensor& tensor : result->tensors) {
        if (!tensor.is_constant) continue;
        REQUIRE(tensor.data >= bytes.data());
        REQUIRE(tensor.data + tensor.size <= bytes.data() + bytes.size());
      }
    } else {
      ++rejected;
      CHECK_FALSE(result.status().message().empty());
    }
  };

  // Every byte of the metadata buffer, each with a random non-zero XOR mask.
  for (uint64_t position = 0; position < header_end; ++position) {
    std::vector<std::byte> bytes = valid;
    bytes[position] ^= static_cast<std::byte>(1 + random() % 255);
    run(bytes);
  }
  // Random positions across the whole file, several bytes at a time.
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::byte> bytes = valid;
    const int flips = 1 + static_cast<int>(random() % 4);
    for (int f = 0; f < flips; ++f) {
      bytes[random() % bytes.size()] ^= static_cast<std::byte>(1 + random() % 255);
    }
    run(bytes);
  }
  // Random truncations.
  for (int trial = 0; trial < 300; ++trial) {
    const std::vector<std::byte> bytes(valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(random() % valid.size()));
    run(bytes);
  }
  MESSAGE("corrupted files accepted: " << accepted << ", rejected: " << rejected);
  CHECK(rejected > 0);
  CHECK(accepted + rejected == header_end + 3300);
}
