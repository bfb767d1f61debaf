// Checks a checkpoint's tensors against its configuration and builds the graph
// of docs/FORMAT.md ("The graph the converter writes").
#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "infomamba/converter.h"

namespace infomamba::convert {
namespace {

using format::Attribute;
using format::OpType;
using Shape = std::vector<uint64_t>;

// Public Mamba checkpoints put every parameter under this prefix.
constexpr const char kBackbonePrefix[] = "backbone.";
// Problems listed in one error before the rest are only counted.
constexpr size_t kMaxListedProblems = 8;

Status invalid(std::string message) { return Status(StatusCode::kInvalidCheckpoint, std::move(message)); }

struct ExpectedTensor {
  std::string name;
  Shape shape;
};

// Lists every parameter the configuration requires, with its shape.
// A token model without lm_head.weight uses the embedding table as its output
// projection (tied weights).
std::vector<ExpectedTensor> expected_tensors(const CheckpointConfig& config, bool has_lm_head) {
  const uint64_t D = config.d_model, Di = config.d_inner, N = config.d_state, K = config.d_conv;
  const uint64_t R = config.dt_rank, k = config.n_concepts, Dc = config.d_concept;
  const uint64_t C = config.channels, H = config.horizon, V = config.vocab_size;
  const bool tokens = config.input_kind == "tokens";

  std::vector<ExpectedTensor> expected;
  if (tokens) {
    expected.push_back({"embed.weight", {V, D}});
  } else {
    expected.push_back({"embed.weight", {D, C}});
    expected.push_back({"embed.bias", {D}});
  }
  for (size_t i = 0; i < config.n_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const std::vector<ExpectedTensor> block = {
        {p + "norm.weight", {D}},
        {p + "mixer.in_proj.weight", {2 * Di, D}},
        {p + "mixer.conv1d.weight", {Di, 1, K}},
        {p + "mixer.conv1d.bias", {Di}},
        {p + "mixer.x_proj.weight", {R + 2 * N, Di}},
        {p + "mixer.dt_proj.weight", {Di, R}},
        {p + "mixer.dt_proj.bias", {Di}},
        {p + "mixer.A_log", {Di, N}},
        {p + "mixer.D", {Di}},
        {p + "mixer.out_proj.weight", {D, Di}},
    };
    expected.insert(expected.end(), block.begin(), block.end());
    if (k == 0) continue;
    const std::vector<ExpectedTensor> concept_stream = {
        {p + "concept.write.weight", {k, D}},
        {p + "concept.write.bias", {k}},
        {p + "concept.value.weight", {Dc, D}},
        {p + "concept.retention_logit", {k}},
        {p + "concept.mix.weight", {k, k}},
        {p + "concept.read.weight", {k, D}},
        {p + "concept.read.bias", {k}},
        {p + "concept.out.weight", {D, Dc}},
        {p + "imf.dt_inject.weight", {Di, D}},
        {p + "imf.B_inject.weight", {N, D}},
        {p + "imf.C_inject.weight", {N, D}},
        {p + "imf.gate.weight", {D, 2 * D}},
        {p + "imf.gate.bias", {D}},
    };
    expected.insert(expected.end(), concept_stream.begin(), concept_stream.end());
  }
  expected.push_back({"norm_f.weight", {D}});
  if (tokens) {
    if (has_lm_head) expected.push_back({"lm_head.weight", {V, D}});
  } else {
    expected.push_back({"head.weight", {H * C, D}});
    expected.push_back({"head.bias", {H * C}});
  }
  return expected;
}

// Removes the "backbone." prefix of public Mamba checkpoints from every name.
Status strip_backbone_prefix(std::map<std::string, CheckpointTensor>* tensors) {
  const std::string prefix = kBackbonePrefix;
  std::map<std::string, CheckpointTensor> renamed;
  for (auto& [name, tensor] : *tensors) {
    const bool prefixed = name.compare(0, prefix.size(), prefix) == 0;
    std::string short_name = prefixed ? name.substr(prefix.size()) : name;
    if (renamed.count(short_name) > 0) {
      return invalid("tensor " + short_name + ": present both with and without the \"backbone.\" prefix, " +
                     "expected one of them");
    }
    renamed.emplace(std::move(short_name), std::move(tensor));
  }
  *tensors = std::move(renamed);
  return Status::ok();
}

std::string join_problems(const std::vector<std::string>& problems) {
  std::string message;
  for (size_t i = 0; i < problems.size() && i < kMaxListedProblems; ++i) {
    if (i > 0) message += "; ";
    message += problems[i];
  }
  if (problems.size() > kMaxListedProblems) {
    message += "; and " + std::to_string(problems.size() - kMaxListedProblems) + " more problems";
  }
  return message;
}

// Checks names and shapes: every expected tensor present with its shape, nothing
// left over, and every value finite.
Status check_tensors(const CheckpointConfig& config, const std::map<std::string, CheckpointTensor>& tensors) {
  const std::vector<ExpectedTensor> expected = expected_tensors(config, tensors.count("lm_head.weight") > 0);
  std::vector<std::string> problems;
  std::set<std::string> expected_names;
  for (const ExpectedTensor& entry : expected) {
    expected_names.insert(entry.name);
    const auto it = tensors.find(entry.name);
    if (it == tensors.end()) {
      problems.push_back("tensor " + entry.name + ": missing from the checkpoint (expected shape " +
                         format::shape_string(entry.shape) + ")");
    } else if (it->second.shape != entry.shape) {
      problems.push_back("tensor " + entry.name + ": shape " + format::shape_string(it->second.shape) + ", expected " +
                         format::shape_string(entry.shape));
    }
  }
  for (const auto& [name, tensor] : tensors) {
    if (expected_names.count(name) == 0) {
      problems.push_back("tensor " + name + ": not part of the model (n_concepts = " +
                         std::to_string(config.n_concepts) + ", n_layers = " + std::to_string(config.n_layers) + ")");
    }
  }
  if (!problems.empty()) return invalid(join_problems(problems));

  for (const ExpectedTensor& entry : expected) {
    const std::vector<float>& values = tensors.at(entry.name).values;
    for (size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) {
        return invalid("tensor " + entry.name + ": element " + std::to_string(i) + " is " +
                       std::to_string(values[i]) + ", expected finite values");
      }
    }
  }
  return Status::ok();
}

Attribute float_attribute(const std::string& name, double value) {
  Attribute attribute;
  attribute.name = name;
  attribute.f = value;
  return attribute;
}

Attribute int_attribute(const std::string& name, int64_t value) {
  Attribute attribute;
  attribute.name = name;
  attribute.i = value;
  return attribute;
}

Attribute string_attribute(const std::string& name, const std::string& value) {
  Attribute attribute;
  attribute.name = name;
  attribute.s = value;
  return attribute;
}

// Appends tensors, states and nodes to a BuiltModel. Checkpoint tensors move
// into weight storage the first time a node uses them.
class GraphWriter {
 public:
  GraphWriter(BuiltModel* built, std::map<std::string, CheckpointTensor>* checkpoint)
      : built_(built), checkpoint_(checkpoint) {}

  int32_t weight(const std::string& name) {
    CheckpointTensor& source = checkpoint_->at(name);
    return constant(name, source.shape, std::move(source.values));
  }

  int32_t constant(const std::string& name, const Shape& shape, std::vector<float> values) {
    auto storage = std::make_unique<std::vector<float>>(std::move(values));
    format::Tensor tensor;
    tensor.name = name;
    tensor.shape = shape;
    tensor.is_constant = true;
    tensor.data = reinterpret_cast<const std::byte*>(storage->data());
    tensor.size = storage->size() * sizeof(float);
    built_->weight_storage.push_back(std::move(storage));
    return add_tensor(std::move(tensor));
  }

  int32_t activation(const std::string& name, const Shape& shape) {
    format::Tensor tensor;
    tensor.name = name;
    tensor.shape = shape;
    tensor.size = element_bytes(shape);
    return add_tensor(std::move(tensor));
  }

  uint32_t state(const std::string& name, const Shape& shape, float initial_value) {
    format::State state;
    state.name = name;
    state.shape = shape;
    state.initial_value = initial_value;
    built_->model.states.push_back(std::move(state));
    return static_cast<uint32_t>(built_->model.states.size() - 1);
  }

  void node(const std::string& name, OpType op, std::vector<int32_t> inputs, std::vector<int32_t> outputs,
            std::vector<uint32_t> states = {}, std::vector<Attribute> attributes = {}) {
    format::Node node;
    node.name = name;
    node.op = op;
    node.inputs = std::move(inputs);
    node.outputs = std::move(outputs);
    node.states = std::move(states);
    node.attributes = std::move(attributes);
    built_->model.nodes.push_back(std::move(node));
  }

  // Adds Linear(x, weight, bias) -> a new activation of `width` values. An empty
  // bias name means no bias.
  int32_t linear(const std::string& node_name, int32_t x, const std::string& weight_name,
                 const std::string& bias_name, const std::string& output_name, uint64_t width) {
    const int32_t weight_index = weight(weight_name);
    const int32_t bias_index = bias_name.empty() ? -1 : weight(bias_name);
    const int32_t output = activation(output_name, {width});
    node(node_name, OpType::kLinear, {x, weight_index, bias_index}, {output});
    return output;
  }

 private:
  static uint64_t element_bytes(const Shape& shape) {
    uint64_t count = sizeof(float);
    for (uint64_t dim : shape) count *= dim;
    return count;
  }

  int32_t add_tensor(format::Tensor tensor) {
    built_->model.tensors.push_back(std::move(tensor));
    return static_cast<int32_t>(built_->model.tensors.size() - 1);
  }

  BuiltModel* built_;
  std::map<std::string, CheckpointTensor>* checkpoint_;
};

std::vector<float> to_float(const std::vector<double>& values) {
  std::vector<float> result;
  result.reserve(values.size());
  for (double value : values) result.push_back(static_cast<float>(value));
  return result;
}

// Adds one block. Returns the residual after it.
int32_t add_block(GraphWriter& graph, const CheckpointConfig& config, size_t layer, int32_t h) {
  const uint64_t D = config.d_model, Di = config.d_inner, N = config.d_state, K = config.d_conv;
  const uint64_t R = config.dt_rank, k = config.n_concepts, Dc = config.d_concept;
  const std::string p = "layers." + std::to_string(layer) + ".";

  // pre-norm and input projection
  const int32_t u = graph.activation(p + "u", {D});
  graph.node(p + "norm", OpType::kRMSNorm, {h, graph.weight(p + "norm.weight")}, {u}, {},
             {float_attribute("eps", config.norm_eps)});
  const int32_t xz = graph.linear(p + "in_proj", u, p + "mixer.in_proj.weight", "", p + "xz", 2 * Di);
  const int32_t x = graph.activation(p + "x", {Di});
  const int32_t z = graph.activation(p + "z", {Di});
  graph.node(p + "split_xz", OpType::kSplit, {xz}, {x, z});

  // causal depthwise convolution, window [K-1, Di]
  const int32_t xc = graph.activation(p + "xc", {Di});
  const uint32_t window = graph.state(p + "conv_window", {K - 1, Di}, 0.0f);
  graph.node(p + "conv1d", OpType::kCausalConv1d,
             {x, graph.weight(p + "mixer.conv1d.weight"), graph.weight(p + "mixer.conv1d.bias")}, {xc}, {window},
             {string_attribute("activation", "silu")});

  // concept-bottleneck global stream: memory [k, Dc], mass [k]
  int32_t g = -1;
  if (k > 0) {
    const int32_t write = graph.linear(p + "concept.write", u, p + "concept.write.weight", p + "concept.write.bias",
                                       p + "write", k);
    const int32_t value = graph.linear(p + "concept.value", u, p + "concept.value.weight", "", p + "value", Dc);
    const int32_t read = graph.linear(p + "concept.read", u, p + "concept.read.weight", p + "concept.read.bias",
                                      p + "read", k);
    const int32_t readout = graph.activation(p + "readout", {Dc});
    const uint32_t memory = graph.state(p + "concept_memory", {k, Dc}, 0.0f);
    const uint32_t mass = graph.state(p + "concept_mass", {k}, 0.0f);
    graph.node(p + "concept.memory", OpType::kConceptMemory,
               {write, value, read, graph.weight(p + "concept.retention_logit"), graph.weight(p + "concept.mix.weight")},
               {readout}, {memory, mass}, {float_attribute("eps", config.concept_eps)});
    g = graph.linear(p + "concept.out", readout, p + "concept.out.weight", "", p + "g", D);
  }

  // input-dependent step size and projections: [delta ; B ; C] is R + 2N
  const int32_t dbc = graph.linear(p + "x_proj", xc, p + "mixer.x_proj.weight", "", p + "dbc", R + 2 * N);
  const int32_t delta = graph.activation(p + "delta", {R});
  const int32_t B = graph.activation(p + "B", {N});
  const int32_t C = graph.activation(p + "C", {N});
  graph.node(p + "split_dbc", OpType::kSplit, {dbc}, {delta, B, C});
  const int32_t dt = graph.linear(p + "dt_proj", delta, p + "mixer.dt_proj.weight", p + "mixer.dt_proj.bias",
                                  p + "dt", Di);

  // IMF part 1: the global context steers dt, B and C
  int32_t dt_extra = -1, B_extra = -1, C_extra = -1;
  if (k > 0) {
    dt_extra = graph.linear(p + "imf.dt_inject", g, p + "imf.dt_inject.weight", "", p + "dt_extra", Di);
    B_extra = graph.linear(p + "imf.B_inject", g, p + "imf.B_inject.weight", "", p + "B_extra", N);
    C_extra = graph.linear(p + "imf.C_inject", g, p + "imf.C_inject.weight", "", p + "C_extra", N);
  }

  // selective scan, state ssm [Di, N]
  const int32_t y = graph.activation(p + "y", {Di});
  const uint32_t ssm = graph.state(p + "ssm", {Di, N}, 0.0f);
  graph.node(p + "selective_scan", OpType::kSelectiveScan,
             {xc, dt, B, C, graph.weight(p + "mixer.A_log"), graph.weight(p + "mixer.D"), z, dt_extra, B_extra,
              C_extra},
             {y}, {ssm});
  const int32_t m = graph.linear(p + "out_proj", y, p + "mixer.out_proj.weight", "", p + "m", D);

  // IMF part 2 and the residual
  int32_t block_output = m;
  if (k > 0) {
    block_output = graph.activation(p + "o", {D});
    graph.node(p + "imf.gate", OpType::kGatedFusion,
               {m, g, graph.weight(p + "imf.gate.weight"), graph.weight(p + "imf.gate.bias")}, {block_output});
  }
  const int32_t next = graph.activation(p + "out", {D});
  graph.node(p + "residual", OpType::kAdd, {h, block_output}, {next});
  return next;
}

}  // namespace

// Sets the metadata fields every model file carries, whatever its input kind.
static void set_common_metadata(const CheckpointConfig& config, format::Metadata* metadata) {
  metadata->spec_version = "infomamba-1";
  metadata->architecture = config.architecture;
  metadata->producer = "infomamba convert 0.1";
  metadata->config_json = config.source_json;
}

// Builds the graph of a token model: an embedding lookup in, logits out.
static Result<BuiltModel> build_token_model(const CheckpointConfig& config,
                                            std::map<std::string, CheckpointTensor> tensors) {
  IMB_RETURN_IF_ERROR(strip_backbone_prefix(&tensors));
  // Public Mamba checkpoints name the table "embeddings.weight".
  if (auto node = tensors.extract("embeddings.weight"); !node.empty()) {
    if (tensors.count("embed.weight") > 0) {
      return invalid("tensor embed.weight: present both as embed.weight and embeddings.weight");
    }
    node.key() = "embed.weight";
    tensors.insert(std::move(node));
  }
  const bool has_lm_head = tensors.count("lm_head.weight") > 0;
  IMB_RETURN_IF_ERROR(check_tensors(config, tensors));

  const uint64_t D = config.d_model, V = config.vocab_size;
  BuiltModel built;
  GraphWriter graph(&built, &tensors);

  const int32_t token = graph.activation("token", {1});
  const int32_t table = graph.weight("embed.weight");
  int32_t h = graph.activation("embed.out", {D});
  graph.node("embed", OpType::kEmbedding, {token, table}, {h});

  for (size_t layer = 0; layer < config.n_layers; ++layer) h = add_block(graph, config, layer, h);

  const int32_t final_norm = graph.activation("final", {D});
  graph.node("norm_f", OpType::kRMSNorm, {h, graph.weight("norm_f.weight")}, {final_norm}, {},
             {float_attribute("eps", config.norm_eps)});
  const int32_t projection = has_lm_head ? graph.weight("lm_head.weight") : table;
  const int32_t logits = graph.activation("logits", {V});
  graph.node("lm_head", OpType::kLinear, {final_norm, projection, -1}, {logits});

  format::Model& model = built.model;
  model.inputs = {static_cast<uint32_t>(token)};
  model.outputs = {static_cast<uint32_t>(logits)};
  format::Metadata& metadata = model.metadata;
  set_common_metadata(config, &metadata);
  metadata.input_kind = format::InputKind::kTokens;
  metadata.output_kind = format::OutputKind::kLogits;
  metadata.vocab_size = static_cast<uint32_t>(V);
  return built;
}

Result<BuiltModel> build_model(const CheckpointConfig& config, std::map<std::string, CheckpointTensor> tensors) {
  if (config.d_inner != config.expand * config.d_model) {
    return Status(StatusCode::kInvalidArgument, "config d_inner: " + std::to_string(config.d_inner) + ", expected " +
                                                    std::to_string(config.expand * config.d_model) +
                                                    " (expand x d_model)");
  }
  if (config.input_kind == "tokens" && config.output_kind == "logits") {
    return build_token_model(config, std::move(tensors));
  }
  if (config.input_kind != "continuous" || config.output_kind != "forecast") {
    return Status(StatusCode::kUnsupported, "input kind \"" + config.input_kind + "\" with output kind \"" +
                                                config.output_kind +
                                                "\" is not supported, expected \"continuous\" with \"forecast\" "
                                                "or \"tokens\" with \"logits\"");
  }
  if (config.channel_names.size() != config.channels || config.mean.size() != config.channels ||
      config.std.size() != config.channels) {
    return Status(StatusCode::kInvalidArgument,
                  "config input: " + std::to_string(config.channel_names.size()) + " names, " +
                      std::to_string(config.mean.size()) + " means and " + std::to_string(config.std.size()) +
                      " standard deviations, expected " + std::to_string(config.channels) + " of each");
  }
  IMB_RETURN_IF_ERROR(strip_backbone_prefix(&tensors));
  IMB_RETURN_IF_ERROR(check_tensors(config, tensors));

  const uint64_t C = config.channels, H = config.horizon, D = config.d_model;
  BuiltModel built;
  GraphWriter graph(&built, &tensors);

  // input adapter
  const int32_t observation = graph.activation("observation", {C});
  const int32_t mean = graph.constant("input.mean", {C}, to_float(config.mean));
  const int32_t std_dev = graph.constant("input.std", {C}, to_float(config.std));
  const int32_t standardized = graph.activation("input.standardized", {C});
  graph.node("input.standardize", OpType::kStandardize, {observation, mean, std_dev}, {standardized});

  int32_t embed_input = standardized;
  int32_t level = -1;
  if (config.level_alpha > 0.0) {
    embed_input = graph.activation("input.deviation", {C});
    level = graph.activation("input.level", {C});
    const uint32_t level_sum = graph.state("input.level_sum", {C}, 0.0f);
    const uint32_t decay = graph.state("input.decay", {1}, 1.0f);
    graph.node("input.streaming_level", OpType::kStreamingLevel, {standardized}, {embed_input, level},
               {level_sum, decay}, {float_attribute("alpha", config.level_alpha)});
  }
  int32_t h = graph.linear("embed", embed_input, "embed.weight", "embed.bias", "embed.out", D);

  for (size_t layer = 0; layer < config.n_layers; ++layer) h = add_block(graph, config, layer, h);

  // output head
  const int32_t final_norm = graph.activation("final", {D});
  graph.node("norm_f", OpType::kRMSNorm, {h, graph.weight("norm_f.weight")}, {final_norm}, {},
             {float_attribute("eps", config.norm_eps)});
  const int32_t head = graph.linear("head", final_norm, "head.weight", "head.bias", "head.out", H * C);
  const int32_t forecast = graph.activation("forecast", {H * C});
  graph.node("forecast", OpType::kForecastOutput, {head, level, mean, std_dev}, {forecast}, {},
             {int_attribute("horizon", static_cast<int64_t>(H))});

  format::Model& model = built.model;
  model.inputs = {static_cast<uint32_t>(observation)};
  model.outputs = {static_cast<uint32_t>(forecast)};

  format::Metadata& metadata = model.metadata;
  set_common_metadata(config, &metadata);
  metadata.input_kind = format::InputKind::kContinuous;
  metadata.output_kind = format::OutputKind::kForecast;
  metadata.channel_names = config.channel_names;
  metadata.mean = config.mean;
  metadata.std = config.std;
  metadata.horizon = static_cast<uint32_t>(H);
  metadata.level_alpha = config.level_alpha;
  return built;
}

}  // namespace infomamba::convert
