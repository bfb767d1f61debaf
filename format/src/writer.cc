// Serialization of models to the file layout of format version 1, and the
// atomic file writer.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "infomamba/logging.h"
#include "infomamba/format/model_file.h"
#include "infomamba_generated.h"

namespace infomamba::format {
namespace {

Status invalid_argument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}

std::string errno_text(int error) { return std::strerror(error); }

// One constant tensor's bytes and the file offset they go to.
struct SegmentPlacement {
  uint64_t offset = 0;
  const std::byte* data = nullptr;
  uint64_t size = 0;
};

// The metadata buffer (size prefix included) and where each segment goes.
struct FileLayout {
  flatbuffers::DetachedBuffer header;
  std::vector<SegmentPlacement> segments;
  uint64_t file_size = 0;
};

bool align_up(uint64_t value, uint64_t* aligned) {
  uint64_t padded = 0;
  if (__builtin_add_overflow(value, kSegmentAlignment - 1, &padded)) return false;
  *aligned = padded - padded % kSegmentAlignment;
  return true;
}

// Checks what the builder itself relies on: every constant has bytes matching
// its shape. The rest of the model is checked by reading the result back.
Status check_constants(const Model& model) {
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const Tensor& tensor = model.tensors[i];
    if (!tensor.is_constant) continue;
    const std::string label = "tensors[" + std::to_string(i) + "] (" + tensor.name + ")";
    const uint64_t element_bytes = dtype_size(tensor.dtype);
    if (element_bytes == 0) {
      return invalid_argument(label + ": dtype " + std::to_string(static_cast<int>(tensor.dtype)) +
                              ", expected one of F32, F16, BF16, I8, I32");
    }
    uint64_t expected = element_bytes;
    for (uint64_t dim : tensor.shape) {
      if (__builtin_mul_overflow(expected, dim, &expected)) {
        return invalid_argument(label + ": shape " + shape_string(tensor.shape) + " overflows 64 bits");
      }
    }
    if (tensor.size != expected) {
      return invalid_argument(label + ": size " + std::to_string(tensor.size) + " bytes, expected " +
                              std::to_string(expected) + " (shape " + shape_string(tensor.shape) + " x " +
                              std::to_string(element_bytes) + " bytes)");
    }
    if (tensor.data == nullptr && tensor.size > 0) {
      return invalid_argument(label + ": constant without data, expected " + std::to_string(tensor.size) + " bytes");
    }
  }
  return Status::ok();
}

// Builds the size-prefixed FlatBuffer with constant i stored in segment i of
// `segments`, in tensor order.
flatbuffers::DetachedBuffer build_buffer(const Model& model, const std::vector<SegmentPlacement>& segments) {
  flatbuffers::FlatBufferBuilder builder(4096);
  // Store every scalar field, defaults included, so that each field has a fixed
  // place in the buffer and tools (and tests) can patch it in place.
  builder.ForceDefaults(true);

  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  tensors.reserve(model.tensors.size());
  int32_t next_segment = 0;
  for (const Tensor& tensor : model.tensors) {
    const auto name = builder.CreateString(tensor.name);
    const auto shape = builder.CreateVector(tensor.shape);
    fb::TensorBuilder entry(builder);
    entry.add_name(name);
    entry.add_dtype(static_cast<fb::DType>(tensor.dtype));
    entry.add_shape(shape);
    if (tensor.is_constant) {
      entry.add_segment(next_segment++);
      entry.add_offset(0);
      entry.add_size(tensor.size);
    }
    tensors.push_back(entry.Finish());
  }

  std::vector<flatbuffers::Offset<fb::Node>> nodes;
  nodes.reserve(model.nodes.size());
  for (const Node& node : model.nodes) {
    std::vector<flatbuffers::Offset<fb::Attribute>> attributes;
    for (const Attribute& attribute : node.attributes) {
      const auto name = builder.CreateString(attribute.name);
      const auto text = attribute.s.empty() ? 0 : builder.CreateString(attribute.s);
      const auto ints = attribute.ints.empty() ? 0 : builder.CreateVector(attribute.ints);
      const auto floats = attribute.floats.empty() ? 0 : builder.CreateVector(attribute.floats);
      attributes.push_back(fb::CreateAttribute(builder, name, attribute.i, attribute.f, text, ints, floats));
    }
    nodes.push_back(fb::CreateNode(builder, builder.CreateString(node.name), static_cast<fb::OpType>(node.op),
                                   builder.CreateVector(node.inputs), builder.CreateVector(node.outputs),
                                   builder.CreateVector(node.states), builder.CreateVector(attributes)));
  }

  std::vector<flatbuffers::Offset<fb::State>> states;
  states.reserve(model.states.size());
  for (const State& state : model.states) {
    states.push_back(fb::CreateState(builder, builder.CreateString(state.name), static_cast<fb::DType>(state.dtype),
                                     builder.CreateVector(state.shape), state.initial_value));
  }

  const auto graph = fb::CreateGraph(builder, builder.CreateVector(tensors), builder.CreateVector(nodes),
                                     builder.CreateVector(model.inputs), builder.CreateVector(model.outputs),
                                     builder.CreateVector(states));

  const Metadata& meta = model.metadata;
  const auto metadata = fb::CreateMetadata(
      builder, builder.CreateString(meta.spec_version), builder.CreateString(meta.architecture),
      builder.CreateString(meta.producer), static_cast<fb::InputKind>(meta.input_kind),
      static_cast<fb::OutputKind>(meta.output_kind), builder.CreateVectorOfStrings(meta.channel_names),
      builder.CreateVector(meta.mean), builder.CreateVector(meta.std), meta.horizon, meta.vocab_size,
      meta.level_alpha, builder.CreateString(meta.config_json));

  std::vector<flatbuffers::Offset<fb::Segment>> segment_tables;
  segment_tables.reserve(segments.size());
  for (const SegmentPlacement& segment : segments) {
    segment_tables.push_back(
        fb::CreateSegment(builder, segment.offset, segment.size, fb::Compression::None, segment.size));
  }

  const auto root = fb::CreateModel(builder, model.format_version, metadata, graph,
                                    builder.CreateVector(segment_tables));
  fb::FinishSizePrefixedModelBuffer(builder, root);
  return builder.Release();
}

// Places segments from `first_offset` on, each at the next multiple of 64.
bool place_segments(const Model& model, uint64_t first_offset, std::vector<SegmentPlacement>* segments,
                    uint64_t* file_end) {
  segments->clear();
  uint64_t cursor = first_offset;
  for (const Tensor& tensor : model.tensors) {
    if (!tensor.is_constant) continue;
    uint64_t offset = 0;
    if (!align_up(cursor, &offset)) return false;
    if (__builtin_add_overflow(offset, tensor.size, &cursor)) return false;
    segments->push_back({offset, tensor.data, tensor.size});
  }
  *file_end = cursor;
  return true;
}

// The segment offsets are stored inside the FlatBuffer, so the buffer size must be
// known before they are final. This builds with a guess for the first offset and
// rebuilds until the buffer fits in front of it. Every field is stored whatever its
// value, so the second pass normally has the size of the first and ends the loop.
Result<FileLayout> lay_out(const Model& model) {
  IMB_RETURN_IF_ERROR(check_constants(model));

  constexpr int kMaxPasses = 8;
  uint64_t first_offset = kSegmentAlignment;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    FileLayout layout;
    uint64_t file_end = 0;
    if (!place_segments(model, first_offset, &layout.segments, &file_end)) {
      return invalid_argument("constant tensors total more than 2^64 bytes");
    }
    layout.header = build_buffer(model, layout.segments);
    uint64_t needed = 0;
    if (!align_up(layout.header.size(), &needed)) return Status(StatusCode::kInternal, "metadata buffer size overflow");
    if (needed <= first_offset) {
      layout.file_size = layout.segments.empty() ? layout.header.size() : file_end;
      return layout;
    }
    first_offset = needed;
  }
  return Status(StatusCode::kInternal, "segment layout did not settle after " + std::to_string(kMaxPasses) +
                                           " passes of building the metadata buffer");
}

// Turns a reader error on a freshly written model into the writer's error: the
// caller's model, not a file, is at fault.
Status as_writer_error(const Status& status) {
  const StatusCode code =
      status.code() == StatusCode::kInvalidModel ? StatusCode::kInvalidArgument : status.code();
  return Status(code, "model fails verification: " + status.message());
}

// Writes all of `size` bytes, retrying partial writes and EINTR.
bool write_all(int fd, const std::byte* data, uint64_t size) {
  constexpr uint64_t kMaxChunk = uint64_t{1} << 30;
  while (size > 0) {
    const size_t chunk = static_cast<size_t>(std::min(size, kMaxChunk));
    const ssize_t written = ::write(fd, data, chunk);
    if (written < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += written;
    size -= static_cast<uint64_t>(written);
  }
  return true;
}

// Writes the layout to `fd` sequentially, with zero bytes between the pieces.
bool write_layout(int fd, const FileLayout& layout) {
  static const std::byte kZeros[kSegmentAlignment] = {};
  const auto* header = reinterpret_cast<const std::byte*>(layout.header.data());
  if (!write_all(fd, header, layout.header.size())) return false;
  uint64_t cursor = layout.header.size();
  for (const SegmentPlacement& segment : layout.segments) {
    for (uint64_t gap = segment.offset - cursor; gap > 0;) {
      const uint64_t chunk = std::min<uint64_t>(gap, sizeof(kZeros));
      if (!write_all(fd, kZeros, chunk)) return false;
      gap -= chunk;
    }
    if (!write_all(fd, segment.data, segment.size)) return false;
    cursor = segment.offset + segment.size;
  }
  return true;
}

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<std::vector<std::byte>> serialize_model(const Model& model) {
  IMB_ASSIGN_OR_RETURN(FileLayout layout, lay_out(model));

  std::vector<std::byte> bytes(layout.file_size, std::byte{0});
  std::memcpy(bytes.data(), layout.header.data(), layout.header.size());
  for (const SegmentPlacement& segment : layout.segments) {
    if (segment.size > 0) std::memcpy(bytes.data() + segment.offset, segment.data, segment.size);
  }

  Result<Model> check = read_model(bytes);
  if (!check.is_ok()) return as_writer_error(check.status());
  return bytes;
}

Status write_model_file(const Model& model, const std::string& requested_path) {
  // An empty path would name the temporary file ".tmp.XXXXXX" in the working
  // folder and fail only at the rename.
  IMB_ASSIGN_OR_RETURN(const std::string path, resolve_output_path(requested_path));
  IMB_ASSIGN_OR_RETURN(FileLayout layout, lay_out(model));

  std::string temp_path = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(temp_path.data());
  if (fd < 0) {
    return Status(StatusCode::kIoError, "cannot create a temporary file beside '" + path + "': " + errno_text(errno));
  }

  // Removes the temporary file on every early return below.
  struct TempFileGuard {
    const std::string& temp_path;
    int fd;
    bool keep = false;
    ~TempFileGuard() {
      if (fd >= 0) ::close(fd);
      if (!keep) ::unlink(temp_path.c_str());
    }
  } guard{temp_path, fd};

  // mkstemp creates the file with mode 0600; a model file is meant to be shared.
  // NOTE: the mode is fixed at 0644 instead of following the process umask,
  // because reading the umask means changing it, which is not thread-safe.
  if (::fchmod(fd, 0644) != 0) {
    return Status(StatusCode::kIoError, "cannot set the mode of '" + temp_path + "': " + errno_text(errno));
  }
  if (!write_layout(fd, layout)) {
    return Status(StatusCode::kIoError, "write to '" + temp_path + "' failed: " + errno_text(errno));
  }
  if (::fsync(fd) != 0) {
    return Status(StatusCode::kIoError, "fsync of '" + temp_path + "' failed: " + errno_text(errno));
  }
  const int close_result = ::close(guard.fd);
  guard.fd = -1;
  if (close_result != 0) {
    return Status(StatusCode::kIoError, "close of '" + temp_path + "' failed: " + errno_text(errno));
  }

  // Read the written bytes back, so that no file the reader rejects replaces `path`.
  {
    IMB_ASSIGN_OR_RETURN(MappedFile written, MappedFile::open(temp_path));
    Result<Model> check = read_model(written.bytes());
    if (!check.is_ok()) return as_writer_error(check.status());
  }

  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    return Status(StatusCode::kIoError, "rename of '" + temp_path + "' to '" + path + "' failed: " + errno_text(errno));
  }
  guard.keep = true;

  // Persist the rename itself. The new file is complete either way, so a failure
  // here is only logged.
  const std::string directory = parent_directory(path);
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0 || ::fsync(directory_fd) != 0) {
    IMB_LOG_WARN("fsync of folder '{}' after writing '{}' failed: {}", directory, path, errno_text(errno));
  }
  if (directory_fd >= 0) ::close(directory_fd);

  IMB_LOG_DEBUG("wrote model file '{}': {} bytes, {} segments", path, layout.file_size, layout.segments.size());
  return Status::ok();
}

}  // namespace infomamba::format
