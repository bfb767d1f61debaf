// Reader for the safetensors format: an 8-byte little-endian header length N, a
// JSON header of N bytes, then the tensor bytes. Header entries map a tensor name
// to {"dtype", "shape", "data_offsets": [begin, end)} with offsets relative to the
// start of the data section. An optional "__metadata__" entry contains strings.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infomamba/converter.h"

namespace infomamba::convert {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this reader copies it without byte swapping");

// Upper bound of the header length. A larger value is taken as a corrupted length
// field; a header describes tensors in about 100 bytes each.
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
constexpr uint64_t kLengthBytes = 8;

Status invalid(std::string message) { return Status(StatusCode::kInvalidCheckpoint, std::move(message)); }

float half_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  // Rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

float bfloat16_to_float(uint16_t value) { return std::bit_cast<float>(static_cast<uint32_t>(value) << 16); }

// Returns the element size of a dtype this reader converts, or 0.
uint64_t supported_dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "F64") return 8;
  return 0;
}

// The other dtypes the safetensors format defines: valid in a file, but no
// InfoMamba parameter is stored in them.
bool is_known_dtype(const std::string& dtype) {
  static const char* const kOtherDtypes[] = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32",
                                             "I64", "U64", "F8_E4M3", "F8_E5M2"};
  for (const char* known : kOtherDtypes) {
    if (dtype == known) return true;
  }
  return false;
}

std::vector<float> convert_to_float(const std::string& dtype, const std::byte* data, uint64_t count) {
  std::vector<float> values(count);
  if (count == 0) return values;  // data() may be null, and memcpy must not see it
  if (dtype == "F32") {
    std::memcpy(values.data(), data, count * sizeof(float));
  } else if (dtype == "F64") {
    for (uint64_t i = 0; i < count; ++i) {
      double value = 0.0;
      std::memcpy(&value, data + i * sizeof(double), sizeof(double));
      values[i] = static_cast<float>(value);
    }
  } else {
    const bool is_half = dtype == "F16";
    for (uint64_t i = 0; i < count; ++i) {
      uint16_t bits = 0;
      std::memcpy(&bits, data + i * sizeof(uint16_t), sizeof(uint16_t));
      values[i] = is_half ? half_to_float(bits) : bfloat16_to_float(bits);
    }
  }
  return values;
}

// Reads a JSON value that must be a non-negative integer.
bool read_unsigned(const nlohmann::json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
    return true;
  }
  return false;
}

// The bytes [begin, end) of the data section that one tensor occupies.
struct ByteRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  std::string name;
};

std::string range_string(const ByteRange& range) {
  // Appended piece by piece: "[" + std::string&& trips a false -Wrestrict in GCC 12.
  std::string text = "[";
  text += std::to_string(range.begin);
  text += ", ";
  text += std::to_string(range.end);
  text += "]";
  return text;
}

// Rejects two tensors whose bytes overlap. Tensors of zero bytes occupy nothing,
// so they may share an offset with any other tensor.
Status check_disjoint(std::vector<ByteRange> ranges) {
  std::erase_if(ranges, [](const ByteRange& range) { return range.begin == range.end; });
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // After sorting by begin, the first range that overlaps any earlier range
  // also overlaps its predecessor, so neighbours are the only pairs to compare.
  for (size_t i = 1; i < ranges.size(); ++i) {
    const ByteRange& previous = ranges[i - 1];
    const ByteRange& range = ranges[i];
    if (range.begin < previous.end) {
      return invalid("tensor " + previous.name + ": data_offsets " + range_string(previous) + " overlap tensor " +
                     range.name + ": data_offsets " + range_string(range) + ", expected disjoint byte ranges");
    }
  }
  return Status::ok();
}

Result<CheckpointTensor> parse_entry(const std::string& name, const nlohmann::json& entry,
                                     std::span<const std::byte> data_section, ByteRange* range) {
  const std::string label = "tensor " + name;
  if (!entry.is_object()) return invalid(label + ": header entry is " + entry.type_name() + ", expected an object");

  const auto dtype_field = entry.find("dtype");
  if (dtype_field == entry.end() || !dtype_field->is_string()) {
    return invalid(label + ": missing string \"dtype\" in the header entry");
  }
  const std::string dtype = dtype_field->get<std::string>();
  const uint64_t element_size = supported_dtype_size(dtype);
  if (element_size == 0) {
    const std::string message = label + ": dtype " + dtype + " is not supported, expected F32, F16, BF16 or F64";
    if (is_known_dtype(dtype)) return Status(StatusCode::kUnsupported, message);
    return invalid(message);
  }

  const auto shape_field = entry.find("shape");
  if (shape_field == entry.end() || !shape_field->is_array()) {
    return invalid(label + ": missing array \"shape\" in the header entry");
  }
  CheckpointTensor tensor;
  tensor.source_dtype = dtype;
  uint64_t byte_count = element_size;
  for (const nlohmann::json& dim : *shape_field) {
    uint64_t value = 0;
    if (!read_unsigned(dim, &value)) {
      return invalid(label + ": shape entry " + dim.dump() + ", expected a non-negative integer");
    }
    tensor.shape.push_back(value);
    if (__builtin_mul_overflow(byte_count, value, &byte_count)) {
      return invalid(label + ": shape " + format::shape_string(tensor.shape) + " x " + std::to_string(element_size) +
                     " bytes overflows 64 bits");
    }
  }

  const auto offsets_field = entry.find("data_offsets");
  uint64_t begin = 0;
  uint64_t end = 0;
  if (offsets_field == entry.end() || !offsets_field->is_array() || offsets_field->size() != 2 ||
      !read_unsigned((*offsets_field)[0], &begin) || !read_unsigned((*offsets_field)[1], &end)) {
    return invalid(label + ": \"data_offsets\" " +
                   (offsets_field == entry.end() ? std::string("missing") : offsets_field->dump()) +
                   ", expected [begin, end] with two non-negative integers");
  }
  if (begin > end || end > data_section.size()) {
    return invalid(label + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "], expected begin <= end <= " + std::to_string(data_section.size()) +
                   " (the size of the data section)");
  }
  if (end - begin != byte_count) {
    return invalid(label + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] hold " +
                   std::to_string(end - begin) + " bytes, expected " + std::to_string(byte_count) + " (shape " +
                   format::shape_string(tensor.shape) + " x " + std::to_string(element_size) + " bytes of " + dtype + ")");
  }

  *range = ByteRange{begin, end, name};
  tensor.values = convert_to_float(dtype, data_section.data() + begin, byte_count / element_size);
  return tensor;
}

}  // namespace

Result<std::map<std::string, CheckpointTensor>> parse_safetensors(std::span<const std::byte> bytes) {
  if (bytes.size() < kLengthBytes) {
    return invalid("safetensors file is " + std::to_string(bytes.size()) + " bytes, expected at least " +
                   std::to_string(kLengthBytes) + " (the header length)");
  }
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), sizeof(header_size));
  if (header_size > kMaxHeaderBytes) {
    return invalid("safetensors header length " + std::to_string(header_size) + " bytes, expected at most " +
                   std::to_string(kMaxHeaderBytes));
  }
  if (header_size > bytes.size() - kLengthBytes) {
    return invalid("safetensors header length " + std::to_string(header_size) + " bytes, but only " +
                   std::to_string(bytes.size() - kLengthBytes) + " bytes follow the length field");
  }

  const auto* header_begin = reinterpret_cast<const char*>(bytes.data() + kLengthBytes);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_size);
  } catch (const nlohmann::json::parse_error& error) {
    return invalid(std::string("safetensors header is not valid JSON: ") + error.what());
  }
  if (!header.is_object()) {
    return invalid(std::string("safetensors header is a JSON ") + header.type_name() + ", expected an object");
  }

  const std::span<const std::byte> data_section = bytes.subspan(kLengthBytes + header_size);
  std::map<std::string, CheckpointTensor> tensors;
  std::vector<ByteRange> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    ByteRange range;
    IMB_ASSIGN_OR_RETURN(CheckpointTensor tensor, parse_entry(name, entry, data_section, &range));
    ranges.push_back(std::move(range));
    tensors.emplace(name, std::move(tensor));
  }
  IMB_RETURN_IF_ERROR(check_disjoint(std::move(ranges)));
  return tensors;
}

Result<std::map<std::string, CheckpointTensor>> read_safetensors(const std::string& path) {
  IMB_ASSIGN_OR_RETURN(format::MappedFile file, format::MappedFile::open(path));
  Result<std::map<std::string, CheckpointTensor>> tensors = parse_safetensors(file.bytes());
  if (!tensors.is_ok()) return tensors.status().with_context(path);
  return tensors;
}

}  // namespace infomamba::convert
