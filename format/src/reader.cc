// Verification and parsing of model files. Every check below runs before any
// field is trusted; the order follows the "Verification" list of docs/FORMAT.md.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "infomamba/logging.h"
#include "infomamba/format/model_file.h"
#include "infomamba_generated.h"

namespace infomamba::format {
namespace {

// Size prefix and file identifier: the smallest prefix of the file that can be checked.
constexpr uint64_t kHeaderBytes = 12;
constexpr uint64_t kIdentifierOffset = 8;
// The largest scalar in the schema is 8 bytes.
constexpr uint64_t kBufferAlignment = 8;

Status invalid(std::string message) { return Status(StatusCode::kInvalidModel, std::move(message)); }
Status unsupported(std::string message) { return Status(StatusCode::kUnsupported, std::move(message)); }

std::string u64(uint64_t value) { return std::to_string(value); }

template <typename Dims>
std::string shape_string(const Dims& dims) {
  std::string text = "[";
  bool first = true;
  for (uint64_t dim : dims) {
    if (!first) text += ", ";
    text += u64(dim);
    first = false;
  }
  return text + "]";
}

// Shows the four identifier bytes, escaping anything that is not printable ASCII.
std::string printable_identifier(const uint8_t* bytes) {
  std::string text;
  for (int i = 0; i < 4; ++i) {
    const uint8_t c = bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      text += static_cast<char>(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      text += escaped;
    }
  }
  return text;
}

std::string name_of(const flatbuffers::String* name) { return name ? name->str() : std::string(); }

std::string tensor_label(size_t index, const fb::Tensor* tensor) {
  std::string label = "graph.tensors[" + u64(index) + "]";
  if (tensor->name()) label += " (" + tensor->name()->str() + ")";
  return label;
}

std::string node_label(size_t index, const fb::Node* node) {
  std::string label = "graph.nodes[" + u64(index) + "]";
  if (node->name() && node->name()->size() > 0) label += " (" + node->name()->str() + ")";
  return label;
}

std::string state_label(size_t index, const fb::State* state) {
  std::string label = "graph.states[" + u64(index) + "]";
  if (state->name()) label += " (" + state->name()->str() + ")";
  return label;
}

// Copies a vector of scalars with memcpy. The verifier checks the alignment of a
// vector's length but not of its elements, so a corrupted offset can leave 8-byte
// elements at a 4-byte boundary, where a typed load would be undefined behaviour.
template <typename T>
std::vector<T> copy_vector(const flatbuffers::Vector<T>* vector) {
  static_assert(flatbuffers::is_scalar<T>::value, "scalar vectors only");
  if (!vector || vector->size() == 0) return {};
  std::vector<T> values(vector->size());
  std::memcpy(values.data(), vector->Data(), values.size() * sizeof(T));
  return values;
}

// Returns the byte count of `dims` elements of `element_size` bytes, or false when
// it does not fit in 64 bits.
bool shape_bytes(const std::vector<uint64_t>& dims, uint64_t element_size, uint64_t* bytes) {
  uint64_t product = element_size;
  for (uint64_t dim : dims) {
    if (__builtin_mul_overflow(product, dim, &product)) return false;
  }
  *bytes = product;
  return true;
}

// ---------------------------------------------------------------------------
// Step 1: identifier and size prefix.

Status check_header(std::span<const std::byte> bytes, uint64_t* buffer_end) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  const uint64_t file_size = bytes.size();
  if (file_size < kHeaderBytes) {
    return invalid("file is " + u64(file_size) + " bytes, expected at least " + u64(kHeaderBytes) +
                   " (size prefix and file identifier)");
  }
  if (std::memcmp(data + kIdentifierOffset, kFileIdentifier, 4) != 0) {
    return invalid("file identifier \"" + printable_identifier(data + kIdentifierOffset) +
                   "\", expected \"" + kFileIdentifier + "\"");
  }

  const uint64_t buffer_size = flatbuffers::ReadScalar<uint32_t>(data);
  const uint64_t prefix_size = sizeof(uint32_t);
  if (buffer_size < kHeaderBytes - prefix_size) {
    return invalid("size prefix says the metadata buffer is " + u64(buffer_size) +
                   " bytes, expected at least " + u64(kHeaderBytes - prefix_size) +
                   " (root offset and file identifier)");
  }
  // The FlatBuffers verifier accepts buffers below 2 GiB only.
  if (buffer_size + prefix_size >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return invalid("size prefix says the metadata buffer is " + u64(buffer_size) +
                   " bytes, expected less than " + u64(FLATBUFFERS_MAX_BUFFER_SIZE - prefix_size));
  }
  if (buffer_size + prefix_size > file_size) {
    return invalid("file is " + u64(file_size) + " bytes, but the size prefix says the metadata buffer is " +
                   u64(buffer_size) + " bytes");
  }
  *buffer_end = buffer_size + prefix_size;
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Step 3: segments.

struct SegmentInfo {
  uint64_t offset = 0;
  uint64_t size = 0;
};

Status check_segments(const fb::Model& root, uint64_t file_size, uint64_t buffer_end,
                      std::vector<SegmentInfo>* segments) {
  const auto* list = root.segments();
  const size_t count = list ? list->size() : 0;
  segments->reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const fb::Segment* segment = list->Get(static_cast<flatbuffers::uoffset_t>(i));
    const std::string label = "segments[" + u64(i) + "]";
    const uint64_t offset = segment->offset();
    const uint64_t size = segment->size();

    const auto compression = static_cast<uint8_t>(segment->compression());
    if (compression > static_cast<uint8_t>(fb::Compression::MAX)) {
      return invalid(label + ": compression " + u64(compression) + ", expected 0 (None) or 1 (Zstd)");
    }
    if (segment->compression() != fb::Compression::None) {
      return unsupported(label + ": compression " + fb::EnumNameCompression(segment->compression()) +
                         " is not supported, expected None (format version 1 reads uncompressed segments only)");
    }
    if (segment->uncompressed_size() != size) {
      return invalid(label + ": uncompressed_size " + u64(segment->uncompressed_size()) + ", expected " +
                     u64(size) + " (equal to size when compression is None)");
    }
    if (offset % kSegmentAlignment != 0) {
      return invalid(label + ": offset " + u64(offset) + ", expected a multiple of " + u64(kSegmentAlignment));
    }
    if (offset < buffer_end) {
      return invalid(label + ": offset " + u64(offset) + " overlaps the metadata buffer, expected at least " +
                     u64(buffer_end));
    }
    uint64_t end = 0;
    if (__builtin_add_overflow(offset, size, &end)) {
      return invalid(label + ": offset " + u64(offset) + " + size " + u64(size) + " overflows 64 bits");
    }
    if (end > file_size) {
      return invalid(label + ": bytes [" + u64(offset) + ", " + u64(end) + ") end past the file, which is " +
                     u64(file_size) + " bytes");
    }
    segments->push_back({offset, size});
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Step 4: tensors.

// Checks a stored dtype: a known value, and F32, the only dtype version 1 runs.
Result<DType> read_f32_dtype(const std::string& label, fb::DType stored, const char* version_rule) {
  const auto dtype_value = static_cast<uint8_t>(stored);
  if (dtype_value > static_cast<uint8_t>(fb::DType::MAX)) {
    return invalid(label + ": dtype " + u64(dtype_value) + ", expected a value in 0..4 (F32, F16, BF16, I8, I32)");
  }
  const auto dtype = static_cast<DType>(dtype_value);
  if (dtype != DType::kF32) {
    return unsupported(label + ": dtype " + dtype_name(dtype) + " is not supported, expected F32 (format version 1 " +
                       version_rule + ")");
  }
  return dtype;
}

Status read_tensors(const fb::Graph& graph, std::span<const std::byte> bytes,
                    const std::vector<SegmentInfo>& segments, Model* model) {
  const auto* list = graph.tensors();
  const size_t count = list ? list->size() : 0;
  model->tensors.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const fb::Tensor* source = list->Get(static_cast<flatbuffers::uoffset_t>(i));
    const std::string label = tensor_label(i, source);
    if (!source->name()) return invalid(label + ": missing name");

    IMB_ASSIGN_OR_RETURN(const DType dtype,
                         read_f32_dtype(label, source->dtype(), "executes F32 tensors only"));
    if (source->quantization()) {
      return unsupported(label + ": quantization parameters are not supported in format version 1");
    }

    Tensor tensor;
    tensor.name = source->name()->str();
    tensor.dtype = dtype;
    tensor.shape = copy_vector(source->shape());

    uint64_t expected_size = 0;
    if (!shape_bytes(tensor.shape, dtype_size(dtype), &expected_size)) {
      return invalid(label + ": shape " + shape_string(tensor.shape) + " x " + u64(dtype_size(dtype)) +
                     " bytes overflows 64 bits");
    }

    const int32_t segment_index = source->segment();
    if (segment_index == -1) {
      // An activation carries no bytes; its size is what one step of it occupies.
      tensor.size = expected_size;
      model->tensors.push_back(std::move(tensor));
      continue;
    }
    if (segment_index < -1 || static_cast<uint64_t>(segment_index) >= segments.size()) {
      return invalid(label + ": segment " + std::to_string(segment_index) + ", expected -1 or a value below " +
                     u64(segments.size()));
    }

    const SegmentInfo& segment = segments[static_cast<size_t>(segment_index)];
    const uint64_t offset = source->offset();
    const uint64_t size = source->size();
    uint64_t end = 0;
    if (__builtin_add_overflow(offset, size, &end)) {
      return invalid(label + ": offset " + u64(offset) + " + size " + u64(size) + " overflows 64 bits");
    }
    if (end > segment.size) {
      return invalid(label + ": bytes [" + u64(offset) + ", " + u64(end) + ") end past segment " +
                     std::to_string(segment_index) + ", which is " + u64(segment.size) + " bytes");
    }
    if (size != expected_size) {
      return invalid(label + ": size " + u64(size) + " bytes, expected " + u64(expected_size) + " (shape " +
                     shape_string(tensor.shape) + " x " + u64(dtype_size(dtype)) + " bytes)");
    }
    // Segments start at multiples of 64, so this keeps every element naturally aligned.
    if (offset % dtype_size(dtype) != 0) {
      return invalid(label + ": offset " + u64(offset) + " within segment " + std::to_string(segment_index) +
                     ", expected a multiple of the element size " + u64(dtype_size(dtype)));
    }

    tensor.is_constant = true;
    tensor.data = bytes.data() + segment.offset + offset;
    tensor.size = size;
    model->tensors.push_back(std::move(tensor));
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Per-stream states (dtype, shape and initial value).

Status read_states(const fb::Graph& graph, Model* model) {
  const auto* list = graph.states();
  const size_t count = list ? list->size() : 0;
  model->states.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const fb::State* source = list->Get(static_cast<flatbuffers::uoffset_t>(i));
    const std::string label = state_label(i, source);
    if (!source->name()) return invalid(label + ": missing name");

    IMB_ASSIGN_OR_RETURN(const DType dtype, read_f32_dtype(label, source->dtype(), "keeps F32 states only"));
    std::vector<uint64_t> shape = copy_vector(source->shape());
    uint64_t bytes = 0;
    if (!shape_bytes(shape, dtype_size(dtype), &bytes)) {
      return invalid(label + ": shape " + shape_string(shape) + " x " + u64(dtype_size(dtype)) +
                     " bytes overflows 64 bits");
    }
    if (!std::isfinite(source->initial_value())) {
      return invalid(label + ": initial_value " + std::to_string(source->initial_value()) +
                     ", expected a finite value");
    }

    State state;
    state.name = source->name()->str();
    state.dtype = dtype;
    state.shape = std::move(shape);
    state.initial_value = source->initial_value();
    model->states.push_back(std::move(state));
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Step 5: graph inputs, nodes and graph outputs.

// Records, for every tensor, what makes its value available: -2 for nothing yet,
// -1 for a graph input, else the index of the producing node.
constexpr int64_t kNotProduced = -2;
constexpr int64_t kGraphInput = -1;

std::string tensor_ref(const Model& model, int64_t index) {
  return "tensor " + std::to_string(index) + " (" + model.tensors[static_cast<size_t>(index)].name + ")";
}

Status read_graph_inputs(const fb::Graph& graph, Model* model, std::vector<int64_t>* producer) {
  model->inputs = copy_vector(graph.inputs());
  const uint64_t tensor_count = model->tensors.size();
  for (size_t i = 0; i < model->inputs.size(); ++i) {
    const uint32_t index = model->inputs[i];
    const std::string label = "graph.inputs[" + u64(i) + "]";
    if (index >= tensor_count) {
      return invalid(label + ": tensor index " + u64(index) + ", expected a value below " + u64(tensor_count));
    }
    if (model->tensors[index].is_constant) {
      return invalid(label + ": " + tensor_ref(*model, index) + " is a constant, expected an activation (segment -1)");
    }
    if ((*producer)[index] != kNotProduced) {
      return invalid(label + ": " + tensor_ref(*model, index) + " is listed twice, expected each graph input once");
    }
    (*producer)[index] = kGraphInput;
  }
  return Status::ok();
}

Status read_nodes(const fb::Graph& graph, Model* model, std::vector<int64_t>* producer) {
  const auto* list = graph.nodes();
  const size_t count = list ? list->size() : 0;
  const int64_t tensor_count = static_cast<int64_t>(model->tensors.size());
  const uint64_t state_count = model->states.size();
  std::vector<int64_t> state_owner(state_count, -1);
  model->nodes.reserve(count);

  for (size_t n = 0; n < count; ++n) {
    const fb::Node* source = list->Get(static_cast<flatbuffers::uoffset_t>(n));
    const std::string label = node_label(n, source);

    const auto op_value = static_cast<uint16_t>(source->op());
    if (op_value > kMaxOpType) {
      return invalid(label + ": op " + u64(op_value) + ", expected a value in 0.." + u64(kMaxOpType));
    }

    Node node;
    node.name = name_of(source->name());
    node.op = static_cast<OpType>(op_value);
    node.inputs = copy_vector(source->inputs());
    node.outputs = copy_vector(source->outputs());
    node.states = copy_vector(source->states());

    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const int64_t index = node.inputs[i];
      if (index < -1 || index >= tensor_count) {
        return invalid(label + ": input " + u64(i) + " is tensor index " + std::to_string(index) +
                       ", expected -1 or a value below " + std::to_string(tensor_count));
      }
      if (index >= 0 && !model->tensors[static_cast<size_t>(index)].is_constant &&
          (*producer)[static_cast<size_t>(index)] == kNotProduced) {
        return invalid(label + ": input " + u64(i) + " is " + tensor_ref(*model, index) +
                       ", which is not a graph input and which no earlier node produces");
      }
    }

    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const int64_t index = node.outputs[i];
      if (index < 0 || index >= tensor_count) {
        return invalid(label + ": output " + u64(i) + " is tensor index " + std::to_string(index) +
                       ", expected a value in [0, " + std::to_string(tensor_count) + ")");
      }
      const auto slot = static_cast<size_t>(index);
      if (model->tensors[slot].is_constant) {
        return invalid(label + ": output " + u64(i) + " is " + tensor_ref(*model, index) +
                       ", a constant; expected an activation (segment -1)");
      }
      const int64_t previous = (*producer)[slot];
      if (previous == kGraphInput) {
        return invalid(label + ": output " + u64(i) + " is " + tensor_ref(*model, index) +
                       ", a graph input; expected an activation that no other node or graph input provides");
      }
      if (previous != kNotProduced) {
        return invalid(label + ": output " + u64(i) + " is " + tensor_ref(*model, index) + ", which " +
                       node_label(static_cast<size_t>(previous), list->Get(static_cast<flatbuffers::uoffset_t>(previous))) +
                       " already produces; expected each activation to be produced once");
      }
      (*producer)[slot] = static_cast<int64_t>(n);
    }

    for (size_t i = 0; i < node.states.size(); ++i) {
      const uint32_t index = node.states[i];
      if (index >= state_count) {
        return invalid(label + ": state " + u64(i) + " is index " + u64(index) + ", expected a value below " +
                       u64(state_count));
      }
      if (state_owner[index] >= 0) {
        return invalid(label + ": state " + u64(i) + " is graph.states[" + u64(index) + "] (" +
                       model->states[index].name + "), which " +
                       node_label(static_cast<size_t>(state_owner[index]),
                                  list->Get(static_cast<flatbuffers::uoffset_t>(state_owner[index]))) +
                       " already owns; expected each state to belong to one node");
      }
      state_owner[index] = static_cast<int64_t>(n);
    }

    if (const auto* attributes = source->attributes()) {
      node.attributes.reserve(attributes->size());
      for (flatbuffers::uoffset_t a = 0; a < attributes->size(); ++a) {
        const fb::Attribute* attribute = attributes->Get(a);
        if (!attribute->name()) return invalid(label + ": attribute " + u64(a) + " has no name");
        Attribute copy;
        copy.name = attribute->name()->str();
        copy.i = attribute->i();
        copy.f = attribute->f();
        copy.s = name_of(attribute->s());
        copy.ints = copy_vector(attribute->ints());
        copy.floats = copy_vector(attribute->floats());
        node.attributes.push_back(std::move(copy));
      }
    }
    model->nodes.push_back(std::move(node));
  }
  return Status::ok();
}

Status read_graph_outputs(const fb::Graph& graph, Model* model, const std::vector<int64_t>& producer) {
  model->outputs = copy_vector(graph.outputs());
  const uint64_t tensor_count = model->tensors.size();
  for (size_t i = 0; i < model->outputs.size(); ++i) {
    const uint32_t index = model->outputs[i];
    const std::string label = "graph.outputs[" + u64(i) + "]";
    if (index >= tensor_count) {
      return invalid(label + ": tensor index " + u64(index) + ", expected a value below " + u64(tensor_count));
    }
    if (model->tensors[index].is_constant) {
      return invalid(label + ": " + tensor_ref(*model, index) + " is a constant, expected an activation (segment -1)");
    }
    if (producer[index] == kNotProduced) {
      return invalid(label + ": " + tensor_ref(*model, index) +
                     " is produced by no node and is not a graph input");
    }
  }
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Step 6: metadata.

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

Status read_metadata(const fb::Metadata& source, Metadata* metadata) {
  const auto input_kind = static_cast<uint8_t>(source.input_kind());
  if (input_kind > static_cast<uint8_t>(fb::InputKind::MAX)) {
    return invalid("metadata.input_kind: " + u64(input_kind) + ", expected 0 (Continuous) or 1 (Tokens)");
  }
  const auto output_kind = static_cast<uint8_t>(source.output_kind());
  if (output_kind > static_cast<uint8_t>(fb::OutputKind::MAX)) {
    return invalid("metadata.output_kind: " + u64(output_kind) + ", expected 0 (Forecast) or 1 (Logits)");
  }

  metadata->spec_version = name_of(source.spec_version());
  metadata->architecture = name_of(source.architecture());
  metadata->producer = name_of(source.producer());
  metadata->input_kind = static_cast<InputKind>(input_kind);
  metadata->output_kind = static_cast<OutputKind>(output_kind);
  if (const auto* names = source.channel_names()) {
    metadata->channel_names.reserve(names->size());
    for (const flatbuffers::String* name : *names) metadata->channel_names.push_back(name_of(name));
  }
  metadata->mean = copy_vector(source.mean());
  metadata->std = copy_vector(source.std());
  metadata->horizon = source.horizon();
  metadata->vocab_size = source.vocab_size();
  metadata->level_alpha = source.level_alpha();
  metadata->config_json = name_of(source.config_json());

  const size_t channels = metadata->channel_names.size();
  if (metadata->mean.size() != channels) {
    return invalid("metadata.mean: " + u64(metadata->mean.size()) + " values, expected " + u64(channels) +
                   " (one per entry of metadata.channel_names)");
  }
  if (metadata->std.size() != channels) {
    return invalid("metadata.std: " + u64(metadata->std.size()) + " values, expected " + u64(channels) +
                   " (one per entry of metadata.channel_names)");
  }
  if (metadata->input_kind == InputKind::kContinuous && channels == 0) {
    return invalid("metadata.channel_names: 0 entries, expected at least one channel for continuous input");
  }
  for (size_t c = 0; c < channels; ++c) {
    if (!std::isfinite(metadata->mean[c])) {
      return invalid("metadata.mean[" + u64(c) + "]: " + number(metadata->mean[c]) + ", expected a finite value");
    }
    if (!std::isfinite(metadata->std[c]) || !(metadata->std[c] > 0.0)) {
      return invalid("metadata.std[" + u64(c) + "]: " + number(metadata->std[c]) +
                     ", expected a positive finite value");
    }
  }
  if (metadata->output_kind == OutputKind::kForecast && metadata->horizon == 0) {
    return invalid("metadata.horizon: 0, expected a positive step count for forecast output");
  }
  const bool token_model =
      metadata->input_kind == InputKind::kTokens || metadata->output_kind == OutputKind::kLogits;
  if (token_model && metadata->vocab_size == 0) {
    return invalid("metadata.vocab_size: 0, expected a positive vocabulary size for token input or logits output");
  }
  if (!std::isfinite(metadata->level_alpha) || metadata->level_alpha < 0.0 || metadata->level_alpha >= 1.0) {
    return invalid("metadata.level_alpha: " + number(metadata->level_alpha) + ", expected a value in [0, 1)");
  }
  return Status::ok();
}

}  // namespace

Result<Model> read_model(std::span<const std::byte> bytes, const ReadOptions& options) {
  // FlatBuffers aligns fields relative to the buffer start, so the start itself
  // must be aligned for the loads below to be aligned.
  const auto address = reinterpret_cast<uintptr_t>(bytes.data());
  if (address % kBufferAlignment != 0) {
    return Status(StatusCode::kInvalidArgument, "model bytes start at address " + u64(address) +
                                                    ", expected a multiple of " + u64(kBufferAlignment));
  }

  uint64_t buffer_end = 0;
  IMB_RETURN_IF_ERROR(check_header(bytes, &buffer_end));

  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  if (options.verify_flatbuffer) {
    flatbuffers::Verifier verifier(data, static_cast<size_t>(buffer_end));
    if (!fb::VerifySizePrefixedModelBuffer(verifier)) {
      return invalid("metadata buffer (" + u64(buffer_end) +
                     " bytes with its size prefix) failed FlatBuffers verification: an offset points outside "
                     "the buffer, a value is misaligned or a required field is missing");
    }
  }

  const fb::Model* root = fb::GetSizePrefixedModel(data);
  if (root->format_version() != kFormatVersion) {
    const std::string message = "format_version " + u64(root->format_version()) + ", expected " + u64(kFormatVersion);
    if (root->format_version() > kFormatVersion) {
      return unsupported(message + " (the file was written by a newer converter)");
    }
    return invalid(message);
  }
  if (!root->metadata()) return invalid("metadata: missing, expected a Metadata table");
  if (!root->graph()) return invalid("graph: missing, expected a Graph table");

  std::vector<SegmentInfo> segments;
  IMB_RETURN_IF_ERROR(check_segments(*root, bytes.size(), buffer_end, &segments));

  Model model;
  model.format_version = root->format_version();
  const fb::Graph& graph = *root->graph();
  IMB_RETURN_IF_ERROR(read_tensors(graph, bytes, segments, &model));
  IMB_RETURN_IF_ERROR(read_states(graph, &model));

  std::vector<int64_t> producer(model.tensors.size(), kNotProduced);
  IMB_RETURN_IF_ERROR(read_graph_inputs(graph, &model, &producer));
  IMB_RETURN_IF_ERROR(read_nodes(graph, &model, &producer));
  IMB_RETURN_IF_ERROR(read_graph_outputs(graph, &model, producer));

  IMB_RETURN_IF_ERROR(read_metadata(*root->metadata(), &model.metadata));

  IMB_LOG_DEBUG("read model: {} tensors, {} nodes, {} states, {} bytes", model.tensors.size(), model.nodes.size(),
               model.states.size(), bytes.size());
  return model;
}

}  // namespace infomamba::format
