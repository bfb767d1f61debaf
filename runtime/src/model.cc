// Loading: map the file, verify it, build the execution plan.
#include <optional>
#include <sstream>
#include <utility>

#include "infomamba/format/model_file.h"
#include "infomamba/logging.h"
#include "infomamba/runtime.h"
#include "plan.h"

namespace infomamba {

struct Model::Storage {
  std::optional<format::MappedFile> file;  // empty when loaded from caller memory
  format::Model graph;
};

Model::~Model() = default;

namespace {

}  // namespace

Result<std::shared_ptr<const Model>> Model::create(std::unique_ptr<Storage> storage,
                                                   std::span<const std::byte> bytes,
                                                   const LoadOptions& options) {
  format::ReadOptions read_options;
  read_options.verify_flatbuffer = options.verify_flatbuffer;
  IMB_ASSIGN_OR_RETURN(storage->graph, format::read_model(bytes, read_options));
  IMB_ASSIGN_OR_RETURN(ExecutionPlan plan, ExecutionPlan::build(storage->graph));

  std::shared_ptr<Model> model(new Model());
  model->storage_ = std::move(storage);
  model->plan_ = std::make_unique<ExecutionPlan>(std::move(plan));

  const format::Model& graph = model->storage_->graph;
  const format::Metadata& meta = graph.metadata;
  ModelInfo& info = model->info_;
  info.spec_version = meta.spec_version;
  info.architecture = meta.architecture;
  info.producer = meta.producer;
  info.input_kind = meta.input_kind == format::InputKind::kContinuous ? "continuous" : "tokens";
  info.output_kind = meta.output_kind == format::OutputKind::kForecast ? "forecast" : "logits";
  info.channel_names = meta.channel_names;
  info.mean = meta.mean;
  info.std = meta.std;
  info.channels = meta.channel_names.size();
  info.horizon = meta.horizon;
  info.vocab_size = meta.vocab_size;
  info.level_alpha = meta.level_alpha;
  for (const format::Tensor& tensor : graph.tensors) {
    if (tensor.is_constant) info.parameter_count += tensor.element_count();
  }
  info.state_bytes_per_stream = model->plan_->state_floats() * sizeof(float);
  info.node_count = graph.nodes.size();
  IMB_LOG_DEBUG("loaded model: {} nodes, {} parameters, {} state bytes per stream", info.node_count,
                info.parameter_count, info.state_bytes_per_stream);
  return std::shared_ptr<const Model>(std::move(model));
}

Result<std::shared_ptr<const Model>> Model::load_from_memory(std::span<const std::byte> bytes,
                                                             const LoadOptions& options) {
  return create(std::make_unique<Storage>(), bytes, options);
}

Result<std::shared_ptr<const Model>> Model::load(const std::string& path, const LoadOptions& options) {
  IMB_ASSIGN_OR_RETURN(format::MappedFile file, format::MappedFile::open(path));
  auto storage = std::make_unique<Storage>();
  storage->file.emplace(std::move(file));
  const std::span<const std::byte> bytes = storage->file->bytes();
  auto model = create(std::move(storage), bytes, options);
  if (!model.is_ok()) return model.status().with_context(path);
  return model;
}

std::string Model::describe_tensors() const {
  std::ostringstream out;
  const format::Model& graph = storage_->graph;
  for (size_t i = 0; i < graph.tensors.size(); ++i) {
    const format::Tensor& tensor = graph.tensors[i];
    out << i << "  " << tensor.name << "  " << format::dtype_name(tensor.dtype) << " "
        << format::shape_string(tensor.shape) << "  "
        << (tensor.is_constant ? "constant, " + std::to_string(tensor.size) + " bytes" : "activation")
        << "\n";
  }
  return out.str();
}

std::string Model::describe_graph() const {
  std::ostringstream out;
  const format::Model& graph = storage_->graph;
  auto tensor_name = [&](int32_t index) -> std::string {
    return index < 0 ? std::string("-") : graph.tensors[static_cast<size_t>(index)].name;
  };
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const format::Node& node = graph.nodes[i];
    out << i << "  " << format::op_type_name(node.op) << "(";
    for (size_t j = 0; j < node.inputs.size(); ++j) out << (j ? ", " : "") << tensor_name(node.inputs[j]);
    out << ") -> ";
    for (size_t j = 0; j < node.outputs.size(); ++j) out << (j ? ", " : "") << tensor_name(node.outputs[j]);
    if (!node.states.empty()) {
      out << "  state ";
      for (size_t j = 0; j < node.states.size(); ++j) {
        const format::State& state = graph.states[node.states[j]];
        out << (j ? ", " : "") << state.name << " " << format::shape_string(state.shape);
      }
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace infomamba
