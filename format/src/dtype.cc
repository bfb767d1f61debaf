// Element types, op names and the small helpers of the model-file structs.
#include <cstdint>
#include <string>

#include "infomamba/format/model_file.h"

namespace infomamba::format {
namespace {

// Returns the product of `dims`, or UINT64_MAX when it does not fit in 64 bits.
// The reader rejects such shapes, so only hand-built models can reach the cap.
uint64_t saturating_product(const std::vector<uint64_t>& dims) {
  uint64_t product = 1;
  for (uint64_t dim : dims) {
    if (__builtin_mul_overflow(product, dim, &product)) return UINT64_MAX;
  }
  return product;
}

}  // namespace

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI8: return 1;
    case DType::kI32: return 4;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kI8: return "I8";
    case DType::kI32: return "I32";
  }
  return "unknown";
}

const char* op_type_name(OpType op) {
  switch (op) {
    case OpType::kStandardize: return "Standardize";
    case OpType::kStreamingLevel: return "StreamingLevel";
    case OpType::kLinear: return "Linear";
    case OpType::kRMSNorm: return "RMSNorm";
    case OpType::kSplit: return "Split";
    case OpType::kCausalConv1d: return "CausalConv1d";
    case OpType::kSelectiveScan: return "SelectiveScan";
    case OpType::kConceptMemory: return "ConceptMemory";
    case OpType::kGatedFusion: return "GatedFusion";
    case OpType::kAdd: return "Add";
    case OpType::kForecastOutput: return "ForecastOutput";
    case OpType::kEmbedding: return "Embedding";
  }
  return "unknown";
}

uint64_t Tensor::element_count() const { return saturating_product(shape); }

uint64_t State::element_count() const { return saturating_product(shape); }

const Attribute* Node::find_attribute(const std::string& attribute_name) const {
  for (const Attribute& attribute : attributes) {
    if (attribute.name == attribute_name) return &attribute;
  }
  return nullptr;
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

}  // namespace infomamba::format
