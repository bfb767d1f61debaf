// The whole conversion: checkpoint folder or file in, model file out.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <spdlog/spdlog.h>

#include "infomamba/logging.h"
#include "infomamba/converter.h"

namespace infomamba::convert {
namespace {

struct CheckpointPaths {
  std::string config;
  std::string weights;
};

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// A checkpoint folder contains config.json and model.safetensors. A .safetensors
// file has config.json in its folder.
Result<CheckpointPaths> resolve_paths(const std::string& checkpoint_path) {
  struct stat info {};
  if (::stat(checkpoint_path.c_str(), &info) != 0) {
    const int error = errno;
    const StatusCode code = error == ENOENT ? StatusCode::kNotFound : StatusCode::kIoError;
    return Status(code, "checkpoint " + checkpoint_path + ": " + std::strerror(error));
  }
  if (S_ISDIR(info.st_mode)) {
    return CheckpointPaths{checkpoint_path + "/config.json", checkpoint_path + "/model.safetensors"};
  }
  if (ends_with(checkpoint_path, ".safetensors")) {
    return CheckpointPaths{parent_directory(checkpoint_path) + "/config.json", checkpoint_path};
  }
  return Status(StatusCode::kInvalidArgument, "checkpoint " + checkpoint_path +
                                                  ": expected a folder or a .safetensors file");
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) {
    const int error = errno;
    const StatusCode code = error == ENOENT ? StatusCode::kNotFound : StatusCode::kIoError;
    return Status(code, "open of " + path + " failed: " + std::strerror(error));
  }
  std::ostringstream text;
  text << stream.rdbuf();
  if (stream.bad()) return Status(StatusCode::kIoError, "read of " + path + " failed");
  return text.str();
}

}  // namespace

Result<ConvertReport> convert_checkpoint(const std::string& checkpoint_path, const std::string& output_path) {
  IMB_ASSIGN_OR_RETURN(CheckpointPaths paths, resolve_paths(checkpoint_path));

  IMB_ASSIGN_OR_RETURN(std::string config_text, read_text_file(paths.config));
  Result<CheckpointConfig> parsed = parse_checkpoint_config(config_text);
  if (!parsed.is_ok()) return parsed.status().with_context(paths.config);
  CheckpointConfig config = std::move(parsed).value();
  for (const std::string& warning : config.warnings) IMB_LOG_WARN("{}: {}", paths.config, warning);

  IMB_ASSIGN_OR_RETURN(auto tensors, read_safetensors(paths.weights));
  ConvertReport report;

  Result<BuiltModel> built = build_model(config, std::move(tensors));
  if (!built.is_ok()) return built.status().with_context(paths.weights);
  const format::Model& model = built->model;

  IMB_RETURN_IF_ERROR(format::write_model_file(model, output_path));
  struct stat written {};
  if (::stat(output_path.c_str(), &written) != 0) {
    return Status(StatusCode::kIoError, "stat of " + output_path + " failed: " + std::strerror(errno));
  }

  report.file_bytes = static_cast<uint64_t>(written.st_size);
  // Counted as the runtime counts them: every constant value in the graph, which
  // includes the per-channel mean and std next to the checkpoint's weights.
  for (const format::Tensor& tensor : model.tensors) {
    if (tensor.is_constant) report.parameter_count += tensor.element_count();
  }
  for (const format::State& state : model.states) {
    report.state_bytes_per_stream += state.element_count() * format::dtype_size(state.dtype);
  }
  report.tensor_count = model.tensors.size();
  report.node_count = model.nodes.size();
  report.warnings = config.warnings;

  IMB_LOG_DEBUG("converted {} to {}: {} parameters, {} nodes, {} bytes, {} state bytes per stream", checkpoint_path,
              output_path, report.parameter_count, report.node_count, report.file_bytes,
              report.state_bytes_per_stream);
  return report;
}

}  // namespace infomamba::convert
