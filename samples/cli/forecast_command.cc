#include "forecast_command.h"

#include <cmath>
#include <limits>
#include <spdlog/spdlog.h>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace infomamba::cli {
namespace {

std::string join_csv_fields(std::span<const std::string> fields) {
  std::string joined;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) joined.push_back(',');
    append_csv_field(joined, fields[i]);
  }
  return joined;
}

std::string rows_produced(size_t rows) {
  return count_noun(rows, "row") + (rows == 1 ? " was produced" : " were produced");
}

// Returns the names as one CSV line, escaped and cut for a message.
std::string names_for_message(std::span<const std::string> names) {
  return escape_for_message(join_csv_fields(names));
}

std::string_view trim_blanks(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

// Checks the parts of the model description the CSV loop relies on.
Status check_model_info(const ModelInfo& info) {
  if (info.input_kind != "continuous" || info.output_kind != "forecast") {
    return Status(StatusCode::kUnsupported,
                  "model has input kind " + quote_for_message(info.input_kind) +
                      " and output kind " + quote_for_message(info.output_kind) +
                      ", expected \"continuous\" and \"forecast\" to forecast a CSV stream");
  }
  if (info.channels == 0 || info.horizon == 0) {
    return Status(StatusCode::kInvalidModel,
                  "model has " + count_noun(info.channels, "channel") + " and horizon " +
                      std::to_string(info.horizon) + ", expected both at least 1");
  }
  if (info.channel_names.size() != info.channels || info.mean.size() != info.channels ||
      info.std.size() != info.channels) {
    return Status(StatusCode::kInvalidModel,
                  "model has " + count_noun(info.channel_names.size(), "channel name") + ", " +
                      std::to_string(info.mean.size()) + " means and " +
                      std::to_string(info.std.size()) + " standard deviations, expected " +
                      std::to_string(info.channels) + " of each");
  }
  return Status::ok();
}

}  // namespace

CsvForecast::CsvForecast(StreamForecaster& forecaster, std::istream& in, ForecastOptions options)
    : forecaster_(forecaster), reader_(in), options_(options) {}

Status CsvForecast::read_header() {
  const ModelInfo& info = forecaster_.info();
  IMB_RETURN_IF_ERROR(check_model_info(info));
  channels_ = info.channels;
  horizon_ = info.horizon;

  IMB_ASSIGN_OR_RETURN(const bool has_header, reader_.read_record(header_));
  if (!has_header) {
    return Status(StatusCode::kInvalidArgument,
                  "input is empty, expected a header line naming the columns, with the model "
                  "channels " +
                      names_for_message(info.channel_names));
  }

  // Match header names, ignoring blanks around them, to model channels.
  std::unordered_map<std::string_view, size_t> channel_index;
  for (size_t c = 0; c < channels_; ++c) channel_index.emplace(info.channel_names[c], c);

  constexpr size_t kUnmatched = std::numeric_limits<size_t>::max();
  channel_columns_.assign(channels_, kUnmatched);
  copied_columns_.clear();
  for (size_t column = 0; column < header_.size(); ++column) {
    const auto found = channel_index.find(trim_blanks(header_[column]));
    if (found == channel_index.end()) {
      copied_columns_.push_back(column);
      continue;
    }
    const size_t c = found->second;
    if (channel_columns_[c] != kUnmatched) {
      return Status(StatusCode::kInvalidArgument,
                    "line " + std::to_string(reader_.record_line()) + ": channel " +
                        quote_for_message(info.channel_names[c]) + " is named by columns " +
                        std::to_string(channel_columns_[c] + 1) + " and " +
                        std::to_string(column + 1) + ", expected exactly one column per channel");
    }
    channel_columns_[c] = column;
  }

  std::vector<std::string> missing;
  for (size_t c = 0; c < channels_; ++c) {
    if (channel_columns_[c] == kUnmatched) missing.push_back(info.channel_names[c]);
  }
  if (!missing.empty()) {
    return Status(StatusCode::kNotFound,
                  "input header lacks " + std::to_string(missing.size()) + " of the " +
                      count_noun(channels_, "model channel") + ": " +
                      names_for_message(missing) +
                      "; header found: " + names_for_message(header_));
  }

  output_columns_.clear();
  for (const size_t column : copied_columns_) output_columns_.push_back(header_[column]);
  for (size_t r = 1; r <= horizon_; ++r) {
    for (size_t c = 0; c < channels_; ++c) {
      output_columns_.push_back(info.channel_names[c] + "@+" + std::to_string(r));
    }
  }

  fields_.reserve(header_.size());
  observation_.assign(channels_, 0.0f);
  observed_.assign(channels_, 0.0f);
  forecast_.assign(horizon_ * channels_, 0.0f);
  if (options_.evaluate) evaluator_.emplace(horizon_, info.std, options_.evaluate_from);

  spdlog::debug("input header: {} columns, {} model channels matched, {} copied to the output",
                header_.size(), channels_, copied_columns_.size());
  header_read_ = true;
  return Status::ok();
}

Status CsvForecast::run(std::ostream& out) {
  const Status status = run_rows(out);
  out.flush();
  if (evaluator_) summary_.evaluation = evaluator_->summary();
  if (!out) summary_.output_failed = true;
  if (status.is_ok() && !out) {
    return Status(StatusCode::kIoError, "writing the output failed after " +
                                            rows_produced(summary_.rows));
  }
  return status;
}

Status CsvForecast::run_rows(std::ostream& out) {
  if (!header_read_) {
    return Status(StatusCode::kInternal, "CsvForecast::run called before read_header");
  }

  line_.clear();
  for (size_t i = 0; i < output_columns_.size(); ++i) {
    if (i > 0) line_.push_back(',');
    append_csv_field(line_, output_columns_[i]);
  }
  line_.push_back('\n');
  out.write(line_.data(), static_cast<std::streamsize>(line_.size()));
  if (options_.flush_every_row) out.flush();

  while (true) {
    IMB_ASSIGN_OR_RETURN(const bool has_row, reader_.read_record(fields_));
    if (!has_row) return Status::ok();
    const size_t line = reader_.record_line();

    if (fields_.size() != header_.size()) {
      return Status(StatusCode::kInvalidArgument,
                    "line " + std::to_string(line) + ": " + count_noun(fields_.size(), "field") +
                        ", expected " + std::to_string(header_.size()) +
                        " as in the header");
    }
    IMB_RETURN_IF_ERROR(parse_row(line));

    const Status step_status = forecaster_.step(observation_, forecast_);
    if (!step_status) return step_status.with_context("line " + std::to_string(line));
    IMB_RETURN_IF_ERROR(check_forecast_finite(line));
    if (evaluator_) evaluator_->add_row(observed_, forecast_);

    append_output_row();
    out.write(line_.data(), static_cast<std::streamsize>(line_.size()));
    if (!out) {
      return Status(StatusCode::kIoError, "writing the output failed at input line " +
                                              std::to_string(line) + " after " +
                                              rows_produced(summary_.rows));
    }
    if (options_.flush_every_row) out.flush();
    ++summary_.rows;
  }
}

// Fills observation_ and observed_ from fields_.
Status CsvForecast::parse_row(size_t line) {
  const ModelInfo& info = forecaster_.info();
  for (size_t c = 0; c < channels_; ++c) {
    const std::string& cell = fields_[channel_columns_[c]];
    float value = 0.0f;
    const CellKind kind = parse_float_cell(cell, value);
    if (kind == CellKind::kValue) {
      observation_[c] = value;
      observed_[c] = value;
      continue;
    }
    if (kind == CellKind::kEmpty) {
      // forecast_ still contains the previous row's forecast, whose row r = 1
      // is the one-step forecast for this row.
      observation_[c] = summary_.rows > 0 ? forecast_[c] : static_cast<float>(info.mean[c]);
      observed_[c] = std::numeric_limits<float>::quiet_NaN();
      ++summary_.filled_cells;
      continue;
    }

    std::string problem;
    if (kind == CellKind::kNonFinite) {
      problem = "is not finite, expected a finite number (leave the cell empty to mark a "
                "missing value)";
    } else if (kind == CellKind::kOutOfRange) {
      problem = "is outside the float range, expected a magnitude up to 3.4e38";
    } else {
      problem = "is not a number, expected a decimal number such as 12.5 or -3e-2";
    }
    return Status(StatusCode::kInvalidArgument,
                  "line " + std::to_string(line) + ", column " +
                      quote_for_message(info.channel_names[c]) + ": value " +
                      quote_for_message(cell) + " " + problem);
  }
  return Status::ok();
}

// An infinite or NaN forecast would be written as "inf" or "nan", and fed
// back as the fill value of the next empty cell. It comes from the model,
// not from the input, so the run stops here.
Status CsvForecast::check_forecast_finite(size_t line) const {
  for (size_t i = 0; i < forecast_.size(); ++i) {
    if (std::isfinite(forecast_[i])) continue;
    const size_t r = i / channels_ + 1;
    const size_t c = i % channels_;
    std::string value;
    append_float(value, forecast_[i]);
    return Status(StatusCode::kInvalidModel,
                  "line " + std::to_string(line) + ": the model's forecast is not finite (" +
                      value + " at " +
                      escape_for_message(forecaster_.info().channel_names[c]) + "@+" +
                      std::to_string(r) + "); the model file may be corrupt");
  }
  return Status::ok();
}

void CsvForecast::append_output_row() {
  line_.clear();
  bool first = true;
  for (const size_t column : copied_columns_) {
    if (!first) line_.push_back(',');
    first = false;
    append_csv_field(line_, fields_[column]);
  }
  for (const float value : forecast_) {
    if (!first) line_.push_back(',');
    first = false;
    append_float(line_, value);
  }
  line_.push_back('\n');
}

Result<ForecastSummary> run_forecast(StreamForecaster& forecaster, std::istream& in,
                                     std::ostream& out, const ForecastOptions& options) {
  CsvForecast forecast(forecaster, in, options);
  IMB_RETURN_IF_ERROR(forecast.read_header());
  IMB_RETURN_IF_ERROR(forecast.run(out));
  return forecast.summary();
}

Result<ForecastSummary> run_forecast(Session& session, std::istream& in, std::ostream& out,
                                     const ForecastOptions& options) {
  SessionForecaster forecaster(session);
  return run_forecast(forecaster, in, out, options);
}

}  // namespace infomamba::cli
