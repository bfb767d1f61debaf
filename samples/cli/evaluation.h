// Scoring of streamed forecasts against the values that arrive later.
#pragma once

#include <cstddef>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace infomamba::cli {

// Error sums of one channel over every scored value.
struct ChannelErrors {
  size_t count = 0;
  double sum_squared = 0.0;                // original units squared
  double sum_absolute = 0.0;               // original units
  double sum_squared_standardized = 0.0;   // error / std, squared
  double sum_absolute_standardized = 0.0;  // |error| / std
};

struct EvaluationSummary {
  size_t horizon = 0;         // H
  size_t first_origin = 0;    // smallest data row allowed as a forecast origin
  size_t rows = 0;            // data rows seen
  size_t windows = 0;         // origins whose H target rows have all arrived
  size_t values = 0;          // (forecast, target) pairs scored, missing targets excluded
  std::vector<ChannelErrors> channels;  // C

  // Sums over every channel.
  ChannelErrors total() const;
};

// Scores the forecast made at data row t for step r against data row t + r,
// for every channel, over complete windows only: an origin t is scored when
// row t + H arrives, and only when t >= first_origin. The forecasts of the
// last H rows wait in a ring buffer of H x H x C floats, and the last H
// observations in one of H x C floats, both allocated by the constructor.
class ForecastEvaluator {
 public:
  // `std` contains the C per-channel standard deviations of the model, which
  // turn errors into standardised units.
  ForecastEvaluator(size_t horizon, std::vector<double> std, size_t first_origin);

  // Adds the next data row: its observed values (C, NaN where the input cell
  // was missing, so that no forecast is scored against it) and the H x C
  // forecast made after it (row r - 1 is step r). Does not allocate.
  void add_row(std::span<const float> observed, std::span<const float> forecast);

  const EvaluationSummary& summary() const { return summary_; }

 private:
  size_t horizon_;   // H
  size_t channels_;  // C
  std::vector<double> std_;                // C
  std::vector<float> forecast_ring_;       // [H, H * C]: slot t % H is the forecast of row t
  std::vector<float> observed_ring_;       // [H, C]: slot t % H is row t
  EvaluationSummary summary_;
};

// Writes the evaluation summary as a table, overall and per channel, with MSE
// and MAE in standardised and in original units.
void write_evaluation_report(const EvaluationSummary& summary,
                             std::span<const std::string> channel_names, std::ostream& out);

}  // namespace infomamba::cli
