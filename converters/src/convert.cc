// The whole conversion: checkpoint folder or file in, model file out.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "infomamba/logging.h"
#include "infomamba/converter.h"

namespace infomamba::convert {
namespace {

// Upper bound of the size of config.json. Real configs are a few kilobytes, so a
// larger file is taken as a wrong path, not read into memory.
constexpr uint64_t kMaxConfigBytes = 16ull * 1024 * 1024;

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
    return Status(code, "checkpoint '" + checkpoint_path + "': " + std::strerror(error));
  }
  if (S_ISDIR(info.st_mode)) {
    return CheckpointPaths{checkpoint_path + "/config.json", checkpoint_path + "/model.safetensors"};
  }
  if (ends_with(checkpoint_path, ".safetensors")) {
    return CheckpointPaths{parent_directory(checkpoint_path) + "/config.json", checkpoint_path};
  }
  return Status(StatusCode::kInvalidArgument,
                "checkpoint '" + checkpoint_path + "': expected a folder or a .safetensors file");
}

// Reads config.json whole. Only a regular file of at most kMaxConfigBytes is
// read, so a FIFO or a link to a device is rejected instead of blocking or
// filling memory.
Result<std::string> read_config_file(const std::string& path) {
  uint64_t size_bytes = 0;
  IMB_ASSIGN_OR_RETURN(const int fd, format::open_regular_file(path, &size_bytes));
  struct DescriptorGuard {
    int fd;
    ~DescriptorGuard() { ::close(fd); }
  } guard{fd};

  if (size_bytes > kMaxConfigBytes) {
    return Status(StatusCode::kInvalidCheckpoint, "config '" + path + "' is " + std::to_string(size_bytes) +
                                                      " bytes, expected at most " + std::to_string(kMaxConfigBytes));
  }
  // The file may grow after fstat, so reading stops one byte past the limit.
  std::string text(size_bytes, '\0');
  size_t filled = 0;
  while (true) {
    if (filled == text.size()) {
      if (text.size() > kMaxConfigBytes) break;
      text.resize(std::min<uint64_t>(text.size() + 4096, kMaxConfigBytes + 1));
    }
    const ssize_t count = ::read(fd, text.data() + filled, text.size() - filled);
    if (count < 0) {
      if (errno == EINTR) continue;
      return Status(StatusCode::kIoError, "read of '" + path + "' failed: " + std::strerror(errno));
    }
    if (count == 0) break;
    filled += static_cast<size_t>(count);
  }
  if (filled > kMaxConfigBytes) {
    return Status(StatusCode::kInvalidCheckpoint, "config '" + path + "' grew past " +
                                                      std::to_string(kMaxConfigBytes) + " bytes while it was read");
  }
  text.resize(filled);
  return text;
}

// True when `output` names the same file as `input`: the same inode when both
// exist, or the same path once symbolic links and "." and ".." are resolved.
bool is_same_file(const std::string& output, const std::string& input) {
  std::error_code error;
  if (std::filesystem::equivalent(output, input, error) && !error) return true;
  const std::filesystem::path output_path = std::filesystem::weakly_canonical(output, error);
  if (error) return false;
  const std::filesystem::path input_path = std::filesystem::weakly_canonical(input, error);
  if (error) return false;
  return output_path == input_path;
}

// Rejects an output path that would replace one of the checkpoint's own files.
Status check_output_path(const std::string& output_path, const CheckpointPaths& paths) {
  if (output_path.empty()) return Status(StatusCode::kInvalidArgument, "output path is empty");
  // Rejects a FIFO, device or folder at the output path before any work is done.
  IMB_RETURN_IF_ERROR(format::resolve_output_path(output_path).status());
  if (is_same_file(output_path, paths.weights)) {
    return Status(StatusCode::kInvalidArgument,
                  "output '" + output_path + "' is the checkpoint's own weights file; choose another path");
  }
  if (is_same_file(output_path, paths.config)) {
    return Status(StatusCode::kInvalidArgument,
                  "output '" + output_path + "' is the checkpoint's own config file; choose another path");
  }
  return Status::ok();
}

}  // namespace

Result<ConvertReport> convert_checkpoint(const std::string& checkpoint_path, const std::string& output_path) {
  IMB_ASSIGN_OR_RETURN(CheckpointPaths paths, resolve_paths(checkpoint_path));
  IMB_RETURN_IF_ERROR(check_output_path(output_path, paths));

  IMB_ASSIGN_OR_RETURN(std::string config_text, read_config_file(paths.config));
  Result<CheckpointConfig> parsed = parse_checkpoint_config(config_text);
  if (!parsed.is_ok()) return parsed.status().with_context(paths.config);
  CheckpointConfig config = std::move(parsed).value();
  for (const std::string& warning : config.warnings) IMB_LOG_WARN("'{}': {}", paths.config, warning);

  IMB_ASSIGN_OR_RETURN(auto tensors, read_safetensors(paths.weights));
  ConvertReport report;

  Result<BuiltModel> built = build_model(config, std::move(tensors));
  if (!built.is_ok()) return built.status().with_context(paths.weights);
  const format::Model& model = built->model;

  IMB_RETURN_IF_ERROR(format::write_model_file(model, output_path));
  struct stat written {};
  if (::stat(output_path.c_str(), &written) != 0) {
    return Status(StatusCode::kIoError, "stat of '" + output_path + "' failed: " + std::strerror(errno));
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

  IMB_LOG_DEBUG("converted '{}' to '{}': {} parameters, {} nodes, {} bytes, {} state bytes per stream", checkpoint_path,
              output_path, report.parameter_count, report.node_count, report.file_bytes,
              report.state_bytes_per_stream);
  return report;
}

}  // namespace infomamba::convert
