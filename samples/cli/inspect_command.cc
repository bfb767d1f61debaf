#include "inspect_command.h"

#include <algorithm>
#include <spdlog/fmt/fmt.h>
#include <string_view>
#include <vector>

#include "csv.h"

namespace infomamba::cli {

std::string format_byte_size(uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

namespace {

// Escapes every line of a multi-line text from the model file, keeping the
// line breaks.
std::string escape_lines(std::string_view text) {
  std::string escaped;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    escaped.append(escape_for_message(line, 1024));
    if (end == std::string_view::npos) break;
    escaped.push_back('\n');
    text.remove_prefix(end + 1);
  }
  return escaped;
}

}  // namespace

// Every string from the model file is escaped, because the file may come
// from anywhere and its bytes go to a terminal.
void write_model_info(const ModelInfo& info, std::ostream& out) {
  out << fmt::format("spec version:      {}\n", escape_for_message(info.spec_version));
  out << fmt::format("architecture:      {}\n", escape_for_message(info.architecture));
  out << fmt::format("producer:          {}\n", escape_for_message(info.producer));
  out << fmt::format("input kind:        {}\n", escape_for_message(info.input_kind));
  out << fmt::format("output kind:       {}\n", escape_for_message(info.output_kind));
  out << fmt::format("horizon (H):       {}\n", info.horizon);
  if (info.vocab_size > 0) out << fmt::format("vocabulary (V):    {}\n", info.vocab_size);
  out << fmt::format("level_alpha:       {}\n", info.level_alpha);
  out << fmt::format("channels (C):      {}\n", info.channels);

  std::vector<std::string> names;
  names.reserve(info.channel_names.size());
  for (const std::string& name : info.channel_names) names.push_back(escape_for_message(name));
  size_t name_width = 4;  // "name"
  for (const std::string& name : names) name_width = std::max(name_width, name.size());
  out << fmt::format("  {:>4}  {:<{}}  {:>14}  {:>14}\n", "#", "name", name_width, "mean", "std");
  for (size_t c = 0; c < info.channel_names.size(); ++c) {
    const double mean = c < info.mean.size() ? info.mean[c] : 0.0;
    const double std = c < info.std.size() ? info.std[c] : 0.0;
    out << fmt::format("  {:>4}  {:<{}}  {:>14.8g}  {:>14.8g}\n", c, names[c], name_width, mean, std);
  }

  out << fmt::format("parameters:        {}\n", info.parameter_count);
  out << fmt::format("state per stream:  {} bytes ({})\n", info.state_bytes_per_stream,
                     format_byte_size(info.state_bytes_per_stream));
  out << fmt::format("graph nodes:       {}\n", info.node_count);
}

namespace {

void write_section(const std::string& title, const std::string& text, std::ostream& out) {
  out << '\n' << title << ":\n" << text;
  if (!text.empty() && text.back() != '\n') out << '\n';
}

}  // namespace

void write_model_description(const Model& model, std::ostream& out) {
  write_model_info(model.info(), out);
  write_section("tensors", escape_lines(model.describe_tensors()), out);
  write_section("graph", escape_lines(model.describe_graph()), out);
}

void write_convert_report(const convert::ConvertReport& report, const std::string& output_path,
                          std::ostream& out) {
  out << fmt::format("wrote {}\n", quote_path(output_path));
  out << fmt::format("parameters:        {}\n", report.parameter_count);
  out << fmt::format("file size:         {} bytes ({})\n", report.file_bytes,
                     format_byte_size(report.file_bytes));
  out << fmt::format("state per stream:  {} bytes ({})\n", report.state_bytes_per_stream,
                     format_byte_size(report.state_bytes_per_stream));
  out << fmt::format("tensors:           {}\n", report.tensor_count);
  out << fmt::format("graph nodes:       {}\n", report.node_count);
}

}  // namespace infomamba::cli
