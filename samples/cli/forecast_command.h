// `infomamba forecast`: streams a CSV file through a model, one row at a time.
//
// Input: a header, then one row per time step. The columns named after the
// model's channels are the observation; every other column (a timestamp, an
// id) is copied to the output unchanged. An empty channel cell is a missing
// value: it is filled with the model's one-step forecast for that channel
// from the previous row, or with the channel's training mean on the first row.
//
// Output: a header, then one row per input row: the copied columns in input
// order, then the H x C forecast in original units, ordered by horizon step
// r = 1..H and by model channel within a step, named "<channel>@+<r>".
// A header-only input gives a header-only output.
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "csv.h"
#include "evaluation.h"
#include "infomamba/runtime.h"
#include "infomamba/status.h"

namespace infomamba::cli {

struct ForecastOptions {
  // Flush the output after every row, so that a consumer on a live pipe
  // receives each forecast as soon as its input row arrives.
  bool flush_every_row = false;
  // Score the forecasts against the values that arrive later (ForecastEvaluator).
  bool evaluate = false;
  // Smallest 0-based data row that is scored as a forecast origin.
  size_t evaluate_from = 0;
};

struct ForecastSummary {
  size_t rows = 0;          // data rows read, forecast and passed to the output stream
  size_t filled_cells = 0;  // empty channel cells filled with a forecast or a mean
  std::optional<EvaluationSummary> evaluation;  // set when ForecastOptions::evaluate is
  // The output stream failed on a write or on the final flush, so some of
  // the `rows` may not have reached the output.
  bool output_failed = false;
};

// The part of a model that the CSV loop uses. Session implements it through
// SessionForecaster; tests substitute a model with a known forecast.
class StreamForecaster {
 public:
  virtual ~StreamForecaster() = default;
  virtual const ModelInfo& info() const = 0;
  // Advances the stream by one observation (C values, original units) and
  // writes the H x C forecast in original units.
  virtual Status step(std::span<const float> observation, std::span<float> forecast) = 0;
};

class SessionForecaster final : public StreamForecaster {
 public:
  // `session` must outlive this object.
  explicit SessionForecaster(Session& session) : session_(session) {}
  const ModelInfo& info() const override { return session_.model().info(); }
  Status step(std::span<const float> observation, std::span<float> forecast) override {
    return session_.step(observation, forecast);
  }

 private:
  Session& session_;
};

// One pass of a CSV stream through a forecaster: read_header(), then run().
// The split lets a caller open its output only after the header is known to
// match the model. The forecaster's stream state is used as it is, so pass a
// fresh session to forecast from the start of the series.
class CsvForecast {
 public:
  // `forecaster` and `in` must outlive this object.
  CsvForecast(StreamForecaster& forecaster, std::istream& in, ForecastOptions options);

  // Reads the header and matches its columns to the model channels by name.
  // Errors: a model that is not a continuous-input forecaster (kUnsupported),
  // an empty input or a channel named twice (kInvalidArgument), model channels
  // missing from the header (kNotFound, listing every missing name and the
  // header found).
  Status read_header();

  // Writes the output header, then reads, steps and writes one row at a time
  // until the end of the input. On an invalid row, or a forecast with an
  // infinite or NaN value (kInvalidModel), it stops with an error that names
  // the line (1 = header); every row before it has been written and `out` is
  // flushed. kIoError when `out` fails, with summary().output_failed set.
  Status run(std::ostream& out);

  // Counts so far. After an error, `rows` is the number of rows passed to
  // `out`, which all reached it unless summary().output_failed is set.
  const ForecastSummary& summary() const { return summary_; }

  // Output column names, valid after read_header().
  const std::vector<std::string>& output_columns() const { return output_columns_; }

 private:
  Status run_rows(std::ostream& out);
  Status parse_row(size_t line);
  Status check_forecast_finite(size_t line) const;
  void append_output_row();

  StreamForecaster& forecaster_;
  CsvReader reader_;
  ForecastOptions options_;
  bool header_read_ = false;

  size_t channels_ = 0;  // C
  size_t horizon_ = 0;   // H
  std::vector<std::string> header_;
  std::vector<size_t> channel_columns_;  // C: header index of each model channel
  std::vector<size_t> copied_columns_;   // header indices copied to the output
  std::vector<std::string> output_columns_;

  // Per-row buffers, allocated once by read_header().
  std::vector<std::string> fields_;
  std::vector<float> observation_;  // C, missing cells filled
  std::vector<float> observed_;     // C, NaN where the cell was missing
  std::vector<float> forecast_;     // H x C
  std::string line_;

  std::optional<ForecastEvaluator> evaluator_;
  ForecastSummary summary_;
};

// Runs read_header() and run() on a fresh pass and returns the summary.
Result<ForecastSummary> run_forecast(StreamForecaster& forecaster, std::istream& in,
                                     std::ostream& out, const ForecastOptions& options);
Result<ForecastSummary> run_forecast(Session& session, std::istream& in, std::ostream& out,
                                     const ForecastOptions& options);

}  // namespace infomamba::cli
