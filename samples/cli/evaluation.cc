#include "evaluation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <spdlog/fmt/fmt.h>
#include <utility>

#include "csv.h"

namespace infomamba::cli {

ChannelErrors EvaluationSummary::total() const {
  ChannelErrors sum;
  for (const ChannelErrors& channel : channels) {
    sum.count += channel.count;
    sum.sum_squared += channel.sum_squared;
    sum.sum_absolute += channel.sum_absolute;
    sum.sum_squared_standardized += channel.sum_squared_standardized;
    sum.sum_absolute_standardized += channel.sum_absolute_standardized;
  }
  return sum;
}

ForecastEvaluator::ForecastEvaluator(size_t horizon, std::vector<double> std, size_t first_origin)
    : horizon_(horizon),
      channels_(std.size()),
      std_(std::move(std)),
      forecast_ring_(horizon * horizon * channels_),
      observed_ring_(horizon * channels_) {
  summary_.horizon = horizon;
  summary_.first_origin = first_origin;
  summary_.channels.resize(channels_);
}

void ForecastEvaluator::add_row(std::span<const float> observed, std::span<const float> forecast) {
  const size_t t = summary_.rows;
  const size_t slot = t % horizon_;
  const size_t forecast_size = horizon_ * channels_;  // H * C
  std::copy(observed.begin(), observed.end(), observed_ring_.begin() + slot * channels_);

  // Row t completes the window of origin t - H: its targets, rows t - H + 1 .. t,
  // are all in the observation ring now. Its forecast sits in the same slot as
  // row t's, which is written only after this.
  if (t >= horizon_ && t - horizon_ >= summary_.first_origin) {
    const size_t origin = t - horizon_;
    const float* origin_forecast = forecast_ring_.data() + slot * forecast_size;
    for (size_t r = 1; r <= horizon_; ++r) {
      const float* target = observed_ring_.data() + ((origin + r) % horizon_) * channels_;
      const float* predicted = origin_forecast + (r - 1) * channels_;
      for (size_t c = 0; c < channels_; ++c) {
        if (std::isnan(target[c])) continue;
        const double error = static_cast<double>(predicted[c]) - static_cast<double>(target[c]);
        const double standardized = error / std_[c];
        ChannelErrors& errors = summary_.channels[c];
        ++errors.count;
        errors.sum_squared += error * error;
        errors.sum_absolute += std::fabs(error);
        errors.sum_squared_standardized += standardized * standardized;
        errors.sum_absolute_standardized += std::fabs(standardized);
        ++summary_.values;
      }
    }
    ++summary_.windows;
  }

  std::copy(forecast.begin(), forecast.end(), forecast_ring_.begin() + slot * forecast_size);
  ++summary_.rows;
}

namespace {

void write_error_row(std::ostream& out, const std::string& label, const ChannelErrors& errors,
                     size_t label_width) {
  if (errors.count == 0) {
    out << fmt::format("{:<{}}  {:>12}  {:>12}  {:>12}  {:>12}  {:>10}\n", label, label_width, "-",
                       "-", "-", "-", 0);
    return;
  }
  const double n = static_cast<double>(errors.count);
  out << fmt::format("{:<{}}  {:>12.6g}  {:>12.6g}  {:>12.6g}  {:>12.6g}  {:>10}\n", label,
                     label_width, errors.sum_squared_standardized / n,
                     errors.sum_absolute_standardized / n, errors.sum_squared / n,
                     errors.sum_absolute / n, errors.count);
}

}  // namespace

void write_evaluation_report(const EvaluationSummary& summary,
                             std::span<const std::string> channel_names, std::ostream& out) {
  if (summary.windows == 0) {
    // The first origin plus H + 1 rows is the smallest input that completes
    // a window. The sum can exceed the size_t range for a huge first origin.
    const size_t max_rows = std::numeric_limits<size_t>::max();
    const std::string needed =
        summary.first_origin > max_rows - summary.horizon - 1
            ? std::string("more than ") + std::to_string(max_rows) + " data rows"
            : "at least " + std::to_string(summary.first_origin + summary.horizon + 1) +
                  " data rows";
    out << fmt::format(
        "evaluation: no complete window to score: {}, horizon {}, first origin {}; "
        "scoring needs {}\n",
        summary.rows == 1 ? std::string("1 data row")
                          : std::to_string(summary.rows) + " data rows",
        summary.horizon, summary.first_origin, needed);
    return;
  }

  const size_t last_origin = summary.first_origin + summary.windows - 1;
  out << fmt::format(
      "evaluation: {} {} (origins at data rows {}..{}, horizon {}), {} values scored\n",
      summary.windows, summary.windows == 1 ? "window" : "windows", summary.first_origin,
      last_origin, summary.horizon, summary.values);
  out << "MSE and MAE in standardised units (error / channel std) and in original units\n";

  size_t label_width = 7;  // "channel"
  std::vector<std::string> labels;
  labels.reserve(summary.channels.size());
  for (size_t c = 0; c < summary.channels.size(); ++c) {
    labels.push_back(c < channel_names.size() ? escape_for_message(channel_names[c])
                                              : std::to_string(c));
  }
  for (const std::string& label : labels) label_width = std::max(label_width, label.size());

  out << fmt::format("{:<{}}  {:>12}  {:>12}  {:>12}  {:>12}  {:>10}\n", "channel", label_width,
                     "MSE (std)", "MAE (std)", "MSE", "MAE", "values");
  write_error_row(out, "all", summary.total(), label_width);
  for (size_t c = 0; c < summary.channels.size(); ++c) {
    write_error_row(out, labels[c], summary.channels[c], label_width);
  }
}

}  // namespace infomamba::cli
