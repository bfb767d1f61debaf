// `infomamba inspect` and `infomamba convert`: human-readable model reports.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "infomamba/converter.h"
#include "infomamba/runtime.h"

namespace infomamba::cli {

// Formats a byte count with a binary unit, for example "27.1 KiB" or "812 B".
std::string format_byte_size(uint64_t bytes);

// Writes the metadata of a model: spec version, producer, input and output
// kind, horizon, level_alpha, each channel with its training mean and std,
// parameter count, state bytes per stream and node count.
void write_model_info(const ModelInfo& info, std::ostream& out);

// Writes write_model_info(), then the tensor table and the graph.
void write_model_description(const Model& model, std::ostream& out);

// Writes the result of a checkpoint conversion: parameter count, file size,
// state bytes per stream, tensor and node counts.
void write_convert_report(const convert::ConvertReport& report, const std::string& output_path,
                          std::ostream& out);

}  // namespace infomamba::cli
