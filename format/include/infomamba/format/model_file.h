// Reading and writing InfoMamba model files (.imb, format version 1).
//
// This header is the only interface of the format library. The FlatBuffers
// generated code stays private to it: callers see plain C++ structs.
//
// File layout: a uint32 size prefix, a FlatBuffer with identifier "IMB1" holding
// metadata and the graph, then weight segments at 64-byte-aligned, 64-bit file
// offsets. See docs/FORMAT.md for the op set and field meanings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "infomamba/status.h"

namespace infomamba::format {

inline constexpr uint32_t kFormatVersion = 1;
inline constexpr char kFileIdentifier[] = "IMB1";
inline constexpr uint64_t kSegmentAlignment = 64;

enum class DType : uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2, kI8 = 3, kI32 = 4 };

// Returns the size of one element in bytes.
size_t dtype_size(DType dtype);
// Formats a shape for messages, for example "[256, 16]".
std::string shape_string(const std::vector<uint64_t>& shape);
const char* dtype_name(DType dtype);

// Mirrors infomamba.fb.OpType; docs/FORMAT.md defines each op.
enum class OpType : uint16_t {
  kStandardize = 0,
  kStreamingLevel = 1,
  kLinear = 2,
  kRMSNorm = 3,
  kSplit = 4,
  kCausalConv1d = 5,
  kSelectiveScan = 6,
  kConceptMemory = 7,
  kGatedFusion = 8,
  kAdd = 9,
  kForecastOutput = 10,
  kEmbedding = 11,
};
inline constexpr uint16_t kMaxOpType = 11;

const char* op_type_name(OpType op);

enum class InputKind : uint8_t { kContinuous = 0, kTokens = 1 };
enum class OutputKind : uint8_t { kForecast = 0, kLogits = 1 };

// A graph value. Constants point into the bytes the model was read from (or, when
// writing, into caller memory); activations have data == nullptr.
struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<uint64_t> shape;
  bool is_constant = false;
  const std::byte* data = nullptr;  // constants only: `size` bytes
  uint64_t size = 0;                // bytes of a constant's data; read_model also sets it for
                                    // activations (one step), and the writer ignores it there

  // Product of shape: 1 for a scalar, UINT64_MAX when the product overflows.
  uint64_t element_count() const;
};

struct Attribute {
  std::string name;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
};

struct Node {
  std::string name;
  OpType op = OpType::kAdd;
  std::vector<int32_t> inputs;   // tensor indices, -1 for an absent optional input
  std::vector<int32_t> outputs;  // tensor indices
  std::vector<uint32_t> states;  // indices into Model::states
  std::vector<Attribute> attributes;

  // Returns the attribute with this name, or nullptr.
  const Attribute* find_attribute(const std::string& attribute_name) const;
};

// Per-stream state of one stateful node.
struct State {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<uint64_t> shape;
  float initial_value = 0.0f;

  uint64_t element_count() const;
};

struct Metadata {
  std::string spec_version;
  std::string architecture;
  std::string producer;
  InputKind input_kind = InputKind::kContinuous;
  OutputKind output_kind = OutputKind::kForecast;
  std::vector<std::string> channel_names;  // C entries
  std::vector<double> mean;                // C entries
  std::vector<double> std;                 // C entries
  uint32_t horizon = 0;                    // H
  uint32_t vocab_size = 0;                 // V, token models only
  double level_alpha = 0.0;
  std::string config_json;
};

// A whole model: what the writer takes and the reader returns.
struct Model {
  uint32_t format_version = kFormatVersion;
  Metadata metadata;
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;  // execution order
  std::vector<uint32_t> inputs;
  std::vector<uint32_t> outputs;
  std::vector<State> states;
};

struct ReadOptions {
  // Runs the FlatBuffers verifier over the metadata buffer. Turning it off skips
  // only that pass; sizes, offsets and indices are always checked. Without it a
  // corrupted buffer can make the reader access memory outside `bytes`, so turn it
  // off only for bytes this process wrote or already verified.
  bool verify_flatbuffer = true;
};

// Parses and validates a model held in `bytes` (typically an mmap of the file).
// Every offset, size, index and shape is checked against the bytes with
// overflow-safe arithmetic. Constant tensors in the result point into `bytes`,
// which must outlive the returned Model. `bytes` must start at an 8-byte-aligned
// address, as mmap and operator new return; other addresses fail with
// kInvalidArgument.
Result<Model> read_model(std::span<const std::byte> bytes, const ReadOptions& options = {});

// Serializes `model` to the file layout above. Constant tensors must have data
// and a size equal to element_count() * dtype_size(dtype). The bytes are checked
// with read_model before they are returned, and a model it rejects fails with
// kInvalidArgument (kUnsupported for a dtype other than F32).
Result<std::vector<std::byte>> serialize_model(const Model& model);

// Writes `model` to `path` atomically: a temporary file in the same folder is
// written, flushed and renamed over `path`, so a failed write never leaves a
// partial file and never destroys an existing one. The written file is checked
// with read_model before the rename.
Status write_model_file(const Model& model, const std::string& path);

// Opens `path` for reading and returns its descriptor, which the caller closes,
// and stores its size in *size_bytes. Symbolic links are followed. Anything but
// a regular file (a folder, FIFO, device or socket) is rejected with kIoError
// without blocking: a FIFO with no writer does not make this call wait.
Result<int> open_regular_file(const std::string& path, uint64_t* size_bytes);

// Checks where a new file may be written: nothing, or a regular file, may sit at
// `path`. Returns the path to write, which is the target when `path` is a
// symbolic link. A FIFO, device or folder is rejected, because writing a
// temporary file and renaming it over `path` would replace it.
Result<std::string> resolve_output_path(const std::string& path);

// A read-only memory mapping of a whole regular file, opened with
// open_regular_file. Move-only.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

}  // namespace infomamba::format
