// Building the execution plan: each node is checked against its op's contract
// (operand counts, constant or activation, shapes, attributes) once, at load.
#include "plan.h"

#include <cmath>
#include <sstream>

#include "infomamba/kernels/kernels.h"
#include "infomamba/logging.h"

namespace infomamba {
namespace {

uint64_t element_count(const std::vector<uint64_t>& shape) {
  uint64_t count = 1;
  for (uint64_t dim : shape) count *= dim;  // the reader has checked for overflow
  return count;
}

Status invalid(const std::string& message) { return Status(StatusCode::kInvalidModel, message); }

// Checks one node's operands and reports failures with the node's position and name.
class NodeChecker {
 public:
  NodeChecker(const format::Model& model, size_t index, const std::vector<bool>& produced)
      : model_(model), node_(model.nodes[index]), index_(index), produced_(produced) {}

  std::string where() const {
    std::ostringstream out;
    out << "graph.nodes[" << index_ << "] (" << (node_.name.empty() ? "unnamed" : node_.name) << ", "
        << format::op_type_name(node_.op) << ")";
    return out.str();
  }

  Status expect_counts(size_t min_inputs, size_t max_inputs, size_t outputs, size_t states) const {
    const size_t input_count = node_.inputs.size();
    if (input_count < min_inputs || input_count > max_inputs) {
      std::ostringstream out;
      out << where() << ": " << input_count << " inputs, expected ";
      if (min_inputs == max_inputs) out << min_inputs;
      else out << min_inputs << " to " << max_inputs;
      return invalid(out.str());
    }
    if (outputs != 0 && node_.outputs.size() != outputs) {
      return invalid(where() + ": " + std::to_string(node_.outputs.size()) + " outputs, expected " +
                     std::to_string(outputs));
    }
    if (node_.states.size() != states) {
      return invalid(where() + ": " + std::to_string(node_.states.size()) + " states, expected " +
                     std::to_string(states));
    }
    return Status::ok();
  }

  bool present(size_t position) const {
    return position < node_.inputs.size() && node_.inputs[position] >= 0;
  }

  const format::Tensor& input(size_t position) const {
    return model_.tensors[static_cast<size_t>(node_.inputs[position])];
  }

  std::string input_label(size_t position) const {
    return where() + ": input " + std::to_string(position) + " (" + input(position).name + ")";
  }

  Status require_present(size_t position) const {
    if (present(position)) return Status::ok();
    return invalid(where() + ": input " + std::to_string(position) + " is absent, but the op requires it");
  }

  // A constant input with exactly `shape`.
  Status constant(size_t position, const std::vector<uint64_t>& shape) const {
    IMB_RETURN_IF_ERROR(require_present(position));
    const format::Tensor& tensor = input(position);
    if (!tensor.is_constant) {
      return invalid(input_label(position) + ": is an activation, expected a constant tensor");
    }
    if (tensor.shape != shape) {
      return invalid(input_label(position) + ": shape " + format::shape_string(tensor.shape) + ", expected " +
                     format::shape_string(shape));
    }
    return Status::ok();
  }

  // An activation input of `width` floats per step, already computed by an earlier node.
  Status activation(size_t position, uint64_t width) const {
    IMB_RETURN_IF_ERROR(require_present(position));
    const format::Tensor& tensor = input(position);
    if (tensor.is_constant) {
      return invalid(input_label(position) + ": is a constant, expected an activation");
    }
    if (!produced_[static_cast<size_t>(node_.inputs[position])]) {
      return invalid(input_label(position) +
                     ": is read before any node produces it, expected a graph input or an "
                     "output of an earlier node");
    }
    const uint64_t found = element_count(tensor.shape);
    if (found != width) {
      return invalid(input_label(position) + ": " + std::to_string(found) +
                     " values per step (shape " + format::shape_string(tensor.shape) + "), expected " +
                     std::to_string(width));
    }
    return Status::ok();
  }

  Status optional_activation(size_t position, uint64_t width) const {
    return present(position) ? activation(position, width) : Status::ok();
  }

  // The per-step width of activation input `position`, checked to be an activation.
  Result<uint64_t> activation_width(size_t position) const {
    IMB_RETURN_IF_ERROR(require_present(position));
    const format::Tensor& tensor = input(position);
    if (tensor.is_constant) {
      return invalid(input_label(position) + ": is a constant, expected an activation");
    }
    return element_count(tensor.shape);
  }

  Result<std::vector<uint64_t>> constant_shape(size_t position) const {
    IMB_RETURN_IF_ERROR(require_present(position));
    const format::Tensor& tensor = input(position);
    if (!tensor.is_constant) {
      return invalid(input_label(position) + ": is an activation, expected a constant tensor");
    }
    return tensor.shape;
  }

  Status output(size_t position, uint64_t width) const {
    const format::Tensor& tensor = model_.tensors[static_cast<size_t>(node_.outputs[position])];
    const uint64_t found = element_count(tensor.shape);
    if (found != width) {
      return invalid(where() + ": output " + std::to_string(position) + " (" + tensor.name + "): " +
                     std::to_string(found) + " values per step, expected " + std::to_string(width));
    }
    return Status::ok();
  }

  Status state(size_t position, uint64_t count) const {
    const format::State& state = model_.states[node_.states[position]];
    const uint64_t found = state.element_count();
    if (found != count) {
      return invalid(where() + ": state " + std::to_string(position) + " (" + state.name + "): " +
                     std::to_string(found) + " values, expected " + std::to_string(count));
    }
    return Status::ok();
  }

  Result<double> float_attribute(const std::string& name) const {
    const format::Attribute* attribute = node_.find_attribute(name);
    if (attribute == nullptr) return invalid(where() + ": attribute '" + name + "' is missing");
    if (!std::isfinite(attribute->f)) {
      return invalid(where() + ": attribute '" + name + "' is " + std::to_string(attribute->f) +
                     ", expected a finite number");
    }
    return attribute->f;
  }

 private:
  const format::Model& model_;
  const format::Node& node_;
  size_t index_;
  const std::vector<bool>& produced_;
};

uint64_t fnv1a(uint64_t hash, const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

Result<ExecutionPlan> ExecutionPlan::build(const format::Model& model) {
  ExecutionPlan plan;

  // Tensors: constants point at their bytes, activations get an arena slot.
  plan.tensors_.resize(model.tensors.size());
  for (size_t i = 0; i < model.tensors.size(); ++i) {
    const format::Tensor& tensor = model.tensors[i];
    if (tensor.dtype != format::DType::kF32) {
      return Status(StatusCode::kUnsupported,
                    "graph.tensors[" + std::to_string(i) + "] (" + tensor.name + "): dtype " +
                        format::dtype_name(tensor.dtype) + ", expected F32");
    }
    TensorSlot& slot = plan.tensors_[i];
    slot.is_constant = tensor.is_constant;
    if (tensor.is_constant) {
      if (reinterpret_cast<uintptr_t>(tensor.data) % alignof(float) != 0) {
        return invalid("graph.tensors[" + std::to_string(i) + "] (" + tensor.name +
                       "): data is not aligned to 4 bytes");
      }
      slot.data = reinterpret_cast<const float*>(tensor.data);
    } else {
      slot.width = element_count(tensor.shape);
      slot.arena_offset = plan.activation_floats_per_step_;
      plan.activation_floats_per_step_ += slot.width;
    }
  }

  // States: one contiguous buffer per session.
  uint64_t fingerprint = 14695981039346656037ull;
  plan.states_.resize(model.states.size());
  for (size_t i = 0; i < model.states.size(); ++i) {
    const format::State& state = model.states[i];
    if (state.dtype != format::DType::kF32) {
      return Status(StatusCode::kUnsupported, "graph.states[" + std::to_string(i) + "] (" +
                                                  state.name + "): dtype " +
                                                  format::dtype_name(state.dtype) + ", expected F32");
    }
    plan.states_[i] = {plan.state_floats_, static_cast<size_t>(state.element_count()),
                       state.initial_value};
    plan.state_floats_ += plan.states_[i].count;
    fingerprint = fnv1a(fingerprint, state.name.data(), state.name.size());
    const uint64_t count = plan.states_[i].count;
    fingerprint = fnv1a(fingerprint, &count, sizeof(count));
  }
  plan.state_fingerprint_ = fingerprint;

  // Graph interface: one activation in, one activation out.
  if (model.inputs.size() != 1 || model.outputs.size() != 1) {
    return invalid("graph has " + std::to_string(model.inputs.size()) + " inputs and " +
                   std::to_string(model.outputs.size()) + " outputs, expected 1 and 1");
  }
  plan.input_tensor_ = model.inputs[0];
  plan.output_tensor_ = model.outputs[0];
  if (plan.tensors_[plan.input_tensor_].is_constant || plan.tensors_[plan.output_tensor_].is_constant) {
    return invalid("graph input and output must be activations, not constants");
  }
  const size_t channels = model.metadata.channel_names.size();
  const bool tokens = model.metadata.input_kind == format::InputKind::kTokens;
  const size_t input_width = tokens ? 1 : channels;
  if (plan.input_width() != input_width) {
    return invalid("graph input (" + model.tensors[plan.input_tensor_].name + "): " +
                   std::to_string(plan.input_width()) + " values per step, expected " +
                   std::to_string(input_width) + (tokens ? " (one token id)" : " (one per channel)"));
  }
  if (model.metadata.output_kind == format::OutputKind::kLogits &&
      plan.output_width() != model.metadata.vocab_size) {
    return invalid("graph output (" + model.tensors[plan.output_tensor_].name + "): " +
                   std::to_string(plan.output_width()) + " values per step, expected " +
                   std::to_string(model.metadata.vocab_size) + " (one logit per vocabulary entry)");
  }
  plan.vocab_size_ = tokens ? model.metadata.vocab_size : 0;
  const size_t forecast_width = static_cast<size_t>(model.metadata.horizon) * channels;
  if (model.metadata.output_kind == format::OutputKind::kForecast &&
      plan.output_width() != forecast_width) {
    return invalid("graph output (" + model.tensors[plan.output_tensor_].name + "): " +
                   std::to_string(plan.output_width()) + " values per step, expected " +
                   std::to_string(forecast_width) + " (horizon " +
                   std::to_string(model.metadata.horizon) + " x " + std::to_string(channels) +
                   " channels)");
  }

  std::vector<bool> produced(model.tensors.size(), false);
  produced[plan.input_tensor_] = true;
  std::vector<bool> state_owned(model.states.size(), false);

  for (size_t index = 0; index < model.nodes.size(); ++index) {
    const format::Node& node = model.nodes[index];
    NodeChecker check(model, index, produced);
    PlannedNode planned;
    planned.op = node.op;
    planned.name = node.name;

    switch (node.op) {
      case OpType::kStandardize: {
        IMB_RETURN_IF_ERROR(check.expect_counts(3, 3, 1, 0));
        IMB_ASSIGN_OR_RETURN(const uint64_t C, check.activation_width(0));
        IMB_RETURN_IF_ERROR(check.activation(0, C));
        IMB_RETURN_IF_ERROR(check.constant(1, {C}));
        IMB_RETURN_IF_ERROR(check.constant(2, {C}));
        IMB_RETURN_IF_ERROR(check.output(0, C));
        const float* std_values = plan.tensors_[static_cast<size_t>(node.inputs[2])].data;
        for (size_t c = 0; c < C; ++c) {
          if (!(std_values[c] > 0.0f) || !std::isfinite(std_values[c])) {
            return invalid(check.input_label(2) + ": value " + std::to_string(std_values[c]) +
                           " at channel " + std::to_string(c) + ", expected a finite positive scale");
          }
        }
        planned.n = C;
        break;
      }
      case OpType::kStreamingLevel: {
        IMB_RETURN_IF_ERROR(check.expect_counts(1, 1, 2, 2));
        IMB_ASSIGN_OR_RETURN(const uint64_t C, check.activation_width(0));
        IMB_RETURN_IF_ERROR(check.activation(0, C));
        IMB_RETURN_IF_ERROR(check.output(0, C));
        IMB_RETURN_IF_ERROR(check.output(1, C));
        IMB_RETURN_IF_ERROR(check.state(0, C));
        IMB_RETURN_IF_ERROR(check.state(1, 1));
        IMB_ASSIGN_OR_RETURN(const double alpha, check.float_attribute("alpha"));
        if (!(alpha > 0.0 && alpha < 1.0)) {
          return invalid(check.where() + ": attribute 'alpha' is " + std::to_string(alpha) +
                         ", expected a value in (0, 1)");
        }
        planned.n = C;
        planned.alpha = static_cast<float>(alpha);
        break;
      }
      case OpType::kLinear: {
        IMB_RETURN_IF_ERROR(check.expect_counts(2, 3, 1, 0));
        IMB_ASSIGN_OR_RETURN(const std::vector<uint64_t> weight_shape, check.constant_shape(1));
        if (weight_shape.size() != 2 || weight_shape[0] == 0 || weight_shape[1] == 0) {
          return invalid(check.input_label(1) + ": shape " + format::shape_string(weight_shape) +
                         ", expected a non-empty matrix [out, in]");
        }
        const uint64_t out = weight_shape[0];
        const uint64_t in = weight_shape[1];
        IMB_RETURN_IF_ERROR(check.activation(0, in));
        if (check.present(2)) IMB_RETURN_IF_ERROR(check.constant(2, {out}));
        IMB_RETURN_IF_ERROR(check.output(0, out));
        planned.n = out;
        planned.in = in;
        break;
      }
      case OpType::kRMSNorm: {
        IMB_RETURN_IF_ERROR(check.expect_counts(2, 2, 1, 0));
        IMB_ASSIGN_OR_RETURN(const uint64_t n, check.activation_width(0));
        IMB_RETURN_IF_ERROR(check.activation(0, n));
        IMB_RETURN_IF_ERROR(check.constant(1, {n}));
        IMB_RETURN_IF_ERROR(check.output(0, n));
        IMB_ASSIGN_OR_RETURN(const double eps, check.float_attribute("eps"));
        if (!(eps > 0.0)) {
          return invalid(check.where() + ": attribute 'eps' is " + std::to_string(eps) +
                         ", expected a positive value");
        }
        planned.n = n;
        planned.eps = static_cast<float>(eps);
        break;
      }
      case OpType::kSplit: {
        IMB_RETURN_IF_ERROR(check.expect_counts(1, 1, 0, 0));
        if (node.outputs.empty() || node.outputs.size() > kMaxOperands) {
          return invalid(check.where() + ": " + std::to_string(node.outputs.size()) +
                         " outputs, expected 1 to " + std::to_string(kMaxOperands));
        }
        IMB_ASSIGN_OR_RETURN(const uint64_t n, check.activation_width(0));
        IMB_RETURN_IF_ERROR(check.activation(0, n));
        uint64_t total = 0;
        for (int32_t output : node.outputs) total += plan.tensors_[static_cast<size_t>(output)].width;
        if (total != n) {
          return invalid(check.where() + ": output widths sum to " + std::to_string(total) +
                         ", expected the input width " + std::to_string(n));
        }
        planned.n = n;
        break;
      }
      case OpType::kCausalConv1d: {
        IMB_RETURN_IF_ERROR(check.expect_counts(3, 3, 1, 1));
        IMB_ASSIGN_OR_RETURN(const std::vector<uint64_t> weight_shape, check.constant_shape(1));
        if (weight_shape.size() != 3 || weight_shape[1] != 1 || weight_shape[0] == 0 ||
            weight_shape[2] == 0) {
          return invalid(check.input_label(1) + ": shape " + format::shape_string(weight_shape) +
                         ", expected [Di, 1, K] with Di, K > 0");
        }
        const uint64_t Di = weight_shape[0];
        const uint64_t K = weight_shape[2];
        IMB_RETURN_IF_ERROR(check.activation(0, Di));
        IMB_RETURN_IF_ERROR(check.constant(2, {Di}));
        IMB_RETURN_IF_ERROR(check.output(0, Di));
        IMB_RETURN_IF_ERROR(check.state(0, (K - 1) * Di));
        const format::Attribute* activation = node.find_attribute("activation");
        const std::string activation_name = activation ? activation->s : "none";
        if (activation_name != "silu" && activation_name != "none") {
          return invalid(check.where() + ": attribute 'activation' is '" + activation_name +
                         "', expected 'silu' or 'none'");
        }
        planned.Di = Di;
        planned.K = K;
        planned.apply_silu = activation_name == "silu";
        break;
      }
      case OpType::kSelectiveScan: {
        IMB_RETURN_IF_ERROR(check.expect_counts(7, 10, 1, 1));
        IMB_ASSIGN_OR_RETURN(const std::vector<uint64_t> a_shape, check.constant_shape(4));
        if (a_shape.size() != 2 || a_shape[0] == 0 || a_shape[1] == 0) {
          return invalid(check.input_label(4) + ": shape " + format::shape_string(a_shape) +
                         ", expected [Di, N] with Di, N > 0");
        }
        const uint64_t Di = a_shape[0];
        const uint64_t N = a_shape[1];
        IMB_RETURN_IF_ERROR(check.activation(0, Di));
        IMB_RETURN_IF_ERROR(check.activation(1, Di));
        IMB_RETURN_IF_ERROR(check.activation(2, N));
        IMB_RETURN_IF_ERROR(check.activation(3, N));
        IMB_RETURN_IF_ERROR(check.constant(5, {Di}));
        IMB_RETURN_IF_ERROR(check.activation(6, Di));
        IMB_RETURN_IF_ERROR(check.optional_activation(7, Di));
        IMB_RETURN_IF_ERROR(check.optional_activation(8, N));
        IMB_RETURN_IF_ERROR(check.optional_activation(9, N));
        IMB_RETURN_IF_ERROR(check.output(0, Di));
        IMB_RETURN_IF_ERROR(check.state(0, Di * N));

        // A = -exp(A_log) depends only on weights, so it is computed here once.
        const float* a_log = plan.tensors_[static_cast<size_t>(node.inputs[4])].data;
        std::vector<float>& a = plan.derived_storage_.emplace_back(Di * N);
        for (size_t i = 0; i < a.size(); ++i) a[i] = -std::exp(a_log[i]);
        planned.derived = a.data();
        planned.Di = Di;
        planned.N = N;
        plan.scratch_floats_per_step_ = std::max<size_t>(plan.scratch_floats_per_step_, 2 * N);
        break;
      }
      case OpType::kConceptMemory: {
        IMB_RETURN_IF_ERROR(check.expect_counts(5, 5, 1, 2));
        IMB_ASSIGN_OR_RETURN(const std::vector<uint64_t> retention_shape, check.constant_shape(3));
        if (retention_shape.size() != 1 || retention_shape[0] == 0) {
          return invalid(check.input_label(3) + ": shape " + format::shape_string(retention_shape) +
                         ", expected [k] with k > 0");
        }
        const uint64_t k = retention_shape[0];
        IMB_ASSIGN_OR_RETURN(const uint64_t Dc, check.activation_width(1));
        IMB_RETURN_IF_ERROR(check.activation(0, k));
        IMB_RETURN_IF_ERROR(check.activation(1, Dc));
        IMB_RETURN_IF_ERROR(check.activation(2, k));
        IMB_RETURN_IF_ERROR(check.constant(4, {k, k}));
        IMB_RETURN_IF_ERROR(check.output(0, Dc));
        IMB_RETURN_IF_ERROR(check.state(0, k * Dc));
        IMB_RETURN_IF_ERROR(check.state(1, k));
        IMB_ASSIGN_OR_RETURN(const double eps, check.float_attribute("eps"));
        if (!(eps > 0.0)) {
          return invalid(check.where() + ": attribute 'eps' is " + std::to_string(eps) +
                         ", expected a positive value");
        }

        // The per-concept pole rho = sigmoid(retention_logit) is a weight-only term.
        const float* logits = plan.tensors_[static_cast<size_t>(node.inputs[3])].data;
        std::vector<float>& rho = plan.derived_storage_.emplace_back(logits, logits + k);
        kernels::scalar::sigmoid(rho.data(), rho.size());
        planned.derived = rho.data();
        planned.k = k;
        planned.Dc = Dc;
        planned.eps = static_cast<float>(eps);
        plan.scratch_floats_per_step_ =
            std::max<size_t>(plan.scratch_floats_per_step_, kernels::concept_scratch_floats(k, Dc));
        break;
      }
      case OpType::kGatedFusion: {
        IMB_RETURN_IF_ERROR(check.expect_counts(4, 4, 1, 0));
        IMB_ASSIGN_OR_RETURN(const uint64_t D, check.activation_width(0));
        IMB_RETURN_IF_ERROR(check.activation(0, D));
        IMB_RETURN_IF_ERROR(check.activation(1, D));
        IMB_RETURN_IF_ERROR(check.constant(2, {D, 2 * D}));
        IMB_RETURN_IF_ERROR(check.constant(3, {D}));
        IMB_RETURN_IF_ERROR(check.output(0, D));
        planned.n = D;
        // Per step: the concatenation [m ; g] (2D) and the gate logits (D).
        plan.scratch_floats_per_step_ = std::max<size_t>(plan.scratch_floats_per_step_, 3 * D);
        break;
      }
      case OpType::kAdd: {
        IMB_RETURN_IF_ERROR(check.expect_counts(2, 2, 1, 0));
        IMB_ASSIGN_OR_RETURN(const uint64_t n, check.activation_width(0));
        IMB_RETURN_IF_ERROR(check.activation(0, n));
        IMB_RETURN_IF_ERROR(check.activation(1, n));
        IMB_RETURN_IF_ERROR(check.output(0, n));
        planned.n = n;
        break;
      }
      case OpType::kForecastOutput: {
        IMB_RETURN_IF_ERROR(check.expect_counts(4, 4, 1, 0));
        IMB_ASSIGN_OR_RETURN(const std::vector<uint64_t> mean_shape, check.constant_shape(2));
        if (mean_shape.size() != 1 || mean_shape[0] == 0) {
          return invalid(check.input_label(2) + ": shape " + format::shape_string(mean_shape) +
                         ", expected [C] with C > 0");
        }
        const uint64_t C = mean_shape[0];
        const format::Attribute* horizon = node.find_attribute("horizon");
        if (horizon == nullptr || horizon->i <= 0) {
          return invalid(check.where() + ": attribute 'horizon' is " +
                         (horizon ? std::to_string(horizon->i) : std::string("missing")) +
                         ", expected a positive integer");
        }
        const uint64_t H = static_cast<uint64_t>(horizon->i);
        IMB_RETURN_IF_ERROR(check.activation(0, H * C));
        IMB_RETURN_IF_ERROR(check.optional_activation(1, C));
        IMB_RETURN_IF_ERROR(check.constant(3, {C}));
        IMB_RETURN_IF_ERROR(check.output(0, H * C));
        planned.n = C;
        planned.H = H;
        break;
      }
      case OpType::kEmbedding: {
        IMB_RETURN_IF_ERROR(check.expect_counts(2, 2, 1, 0));
        IMB_RETURN_IF_ERROR(check.activation(0, 1));
        IMB_ASSIGN_OR_RETURN(const std::vector<uint64_t> table_shape, check.constant_shape(1));
        if (table_shape.size() != 2 || table_shape[0] == 0 || table_shape[1] == 0) {
          return invalid(check.input_label(1) + ": shape " + format::shape_string(table_shape) +
                         ", expected a non-empty table [V, D]");
        }
        // Token ids are checked against V before a step runs, so the lookup is in range.
        if (!tokens || table_shape[0] != model.metadata.vocab_size) {
          return invalid(check.input_label(1) + ": " + std::to_string(table_shape[0]) +
                         " rows, expected the vocabulary size " + std::to_string(model.metadata.vocab_size));
        }
        IMB_RETURN_IF_ERROR(check.output(0, table_shape[1]));
        planned.n = table_shape[1];
        planned.k = table_shape[0];
        break;
      }
    }

    // Resolve operands and mark outputs as produced.
    planned.input_count = node.inputs.size();
    planned.output_count = node.outputs.size();
    planned.inputs.fill(-1);
    planned.outputs.fill(-1);
    for (size_t i = 0; i < node.inputs.size(); ++i) planned.inputs[i] = node.inputs[i];
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const auto output = static_cast<size_t>(node.outputs[i]);
      if (produced[output]) {
        return invalid(check.where() + ": output " + std::to_string(i) + " (" +
                       model.tensors[output].name + ") is already produced earlier in the graph");
      }
      if (plan.tensors_[output].is_constant) {
        return invalid(check.where() + ": output " + std::to_string(i) + " (" +
                       model.tensors[output].name + ") is a constant, expected an activation");
      }
      produced[output] = true;
      planned.outputs[i] = node.outputs[i];
    }
    for (size_t i = 0; i < node.states.size(); ++i) {
      if (state_owned[node.states[i]]) {
        return invalid(check.where() + ": state " + model.states[node.states[i]].name +
                       " is already owned by another node");
      }
      state_owned[node.states[i]] = true;
      planned.state_offsets[i] = plan.states_[node.states[i]].offset;
    }
    plan.nodes_.push_back(std::move(planned));
  }

  if (!produced[plan.output_tensor_]) {
    return invalid("graph output (" + model.tensors[plan.output_tensor_].name +
                   ") is never produced by a node");
  }
  IMB_LOG_DEBUG("execution plan: {} nodes, {} activation floats per step, {} state floats",
                plan.nodes_.size(), plan.activation_floats_per_step_, plan.state_floats_);
  return plan;
}

}  // namespace infomamba
