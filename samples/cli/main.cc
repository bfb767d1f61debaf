// infomamba: command-line front end of the InfoMamba runtime.
//
// stdout carries only the command's result (a CSV stream for `forecast`, a
// report for `convert` and `inspect`). Logs, summaries and errors go to
// stderr. Exit codes: 0 success, 1 error, 2 invalid command line.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "forecast_command.h"
#include "infomamba/converter.h"
#include "infomamba/runtime.h"
#include "inspect_command.h"

#ifndef INFOMAMBA_VERSION
#define INFOMAMBA_VERSION "unknown"
#endif

namespace infomamba::cli {
namespace {

struct ConvertArguments {
  std::string checkpoint;
  std::string output;
};

struct ForecastArguments {
  std::string model;
  std::string input;
  std::string output;  // empty or "-" for stdout
  bool evaluate = false;
  size_t evaluate_from = 0;
};

struct InspectArguments {
  std::string model;
};

void configure_logging() {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("infomamba-cli", std::move(sink));
  logger->set_pattern("%^%l%$: %v");
  spdlog::set_default_logger(std::move(logger));
  spdlog::set_level(spdlog::level::info);
}

Status open_error(const std::string& file_role, const std::string& path) {
  const int error = errno;
  const StatusCode code = error == ENOENT ? StatusCode::kNotFound : StatusCode::kIoError;
  return Status(code, "cannot open " + file_role + " " + path + ": " + std::strerror(error));
}

Result<std::shared_ptr<const Model>> load_model(const std::string& path) {
  Result<std::shared_ptr<const Model>> model = Model::load(path);
  if (!model) return model.status().with_context("cannot load model");
  return model;
}

Status run_convert(const ConvertArguments& arguments) {
  spdlog::debug("converting {} to {}", arguments.checkpoint, arguments.output);
  IMB_ASSIGN_OR_RETURN(const convert::ConvertReport report,
                       convert::convert_checkpoint(arguments.checkpoint, arguments.output));
  for (const std::string& warning : report.warnings) spdlog::warn("{}", warning);
  write_convert_report(report, arguments.output, std::cout);
  std::cout.flush();
  return Status::ok();
}

Status run_inspect(const InspectArguments& arguments) {
  IMB_ASSIGN_OR_RETURN(const std::shared_ptr<const Model> model, load_model(arguments.model));
  write_model_description(*model, std::cout);
  std::cout.flush();
  return Status::ok();
}

// Rejects writing the output over the input, which would truncate the input
// before it is read.
Status check_distinct_files(const std::string& input, const std::string& output) {
  std::error_code error;
  if (std::filesystem::equivalent(input, output, error)) {
    return Status(StatusCode::kInvalidArgument,
                  "output " + output + " is the input file, expected a different path");
  }
  return Status::ok();
}

Status run_forecast_command(const ForecastArguments& arguments) {
  IMB_ASSIGN_OR_RETURN(const std::shared_ptr<const Model> model, load_model(arguments.model));
  IMB_ASSIGN_OR_RETURN(Session session, Session::create(model));

  const bool from_stdin = arguments.input == "-";
  const std::string input_label = from_stdin ? std::string("stdin") : arguments.input;
  std::ifstream input_file;
  if (!from_stdin) {
    std::error_code error;
    if (std::filesystem::is_directory(arguments.input, error)) {
      return Status(StatusCode::kInvalidArgument,
                    "input " + arguments.input + " is a directory, expected a CSV file");
    }
    input_file.open(arguments.input, std::ios::binary);
    if (!input_file) return open_error("input file", arguments.input);
  }
  std::istream& input = from_stdin ? std::cin : input_file;

  // A pipe or terminal may deliver rows one at a time, so its consumer gets
  // each forecast as soon as the row arrives. A regular file is written in
  // large buffered blocks.
  std::error_code type_error;
  const bool live_input =
      from_stdin || !std::filesystem::is_regular_file(arguments.input, type_error);

  ForecastOptions options;
  options.flush_every_row = live_input;
  options.evaluate = arguments.evaluate;
  options.evaluate_from = arguments.evaluate_from;

  SessionForecaster forecaster(session);
  CsvForecast forecast(forecaster, input, options);
  const Status header_status = forecast.read_header();
  if (!header_status) return header_status.with_context(input_label);

  // The output is opened only now, so that a header error leaves an existing
  // output file untouched.
  const bool to_stdout = arguments.output.empty() || arguments.output == "-";
  std::ofstream output_file;
  if (!to_stdout) {
    if (!from_stdin) IMB_RETURN_IF_ERROR(check_distinct_files(arguments.input, arguments.output));
    output_file.open(arguments.output, std::ios::binary | std::ios::trunc);
    if (!output_file) return open_error("output file", arguments.output);
  }
  std::ostream& output = to_stdout ? std::cout : output_file;

  const Status status = forecast.run(output);
  const ForecastSummary& summary = forecast.summary();
  if (!status) {
    spdlog::info("rows written before the error: {}", summary.rows);
    return status.with_context(input_label);
  }
  if (!to_stdout) {
    output_file.close();
    if (!output_file) {
      return Status(StatusCode::kIoError, "closing output file " + arguments.output + " failed");
    }
  }

  const ModelInfo& info = model->info();
  spdlog::info("rows forecast: {}, each {} steps x {} channels", summary.rows, info.horizon,
               info.channels);
  spdlog::info("filled {} missing {} with one-step forecasts", summary.filled_cells,
               summary.filled_cells == 1 ? "cell" : "cells");
  if (summary.evaluation) {
    write_evaluation_report(*summary.evaluation, info.channel_names, std::cerr);
  }
  return Status::ok();
}

int run_main(int argc, char** argv) {
  CLI::App app("Convert InfoMamba checkpoints, inspect model files and forecast CSV streams.",
               "infomamba");
  app.set_version_flag("--version", INFOMAMBA_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log debug messages to stderr");

  ConvertArguments convert_arguments;
  CLI::App* convert_command = app.add_subcommand(
      "convert", "Convert a checkpoint (folder with config.json and model.safetensors) to a model file");
  convert_command->add_option("checkpoint", convert_arguments.checkpoint,
                              "Checkpoint folder, or a .safetensors file with config.json beside it")
      ->required();
  convert_command->add_option("-o,--output", convert_arguments.output, "Model file to write (.imb)")
      ->required();

  ForecastArguments forecast_arguments;
  CLI::App* forecast_command = app.add_subcommand(
      "forecast",
      "Stream a CSV file through a model, writing one H-step forecast row per input row");
  forecast_command->footer(
      "The input header must name every model channel. Other columns are copied to the output "
      "before the forecast columns <channel>@+<r>, r = 1..H. An empty channel cell is filled "
      "with the previous row's one-step forecast (the training mean on the first row). "
      "A header-only input gives a header-only output. Summaries go to stderr.");
  forecast_command->add_option("model", forecast_arguments.model, "Model file (.imb)")->required();
  forecast_command->add_option("-i,--input", forecast_arguments.input,
                               "Input CSV file, or - for stdin. Unless it is a regular file, "
                               "the output is flushed after every row")
      ->required();
  forecast_command->add_option("-o,--output", forecast_arguments.output,
                               "Output CSV file (default: stdout)");
  forecast_command->add_flag(
      "--evaluate", forecast_arguments.evaluate,
      "Score each forecast against the rows that arrive later and report MSE and MAE, in "
      "standardised and original units, on stderr");
  forecast_command->add_option("--evaluate-from", forecast_arguments.evaluate_from,
                               "First 0-based data row scored as a forecast origin (implies "
                               "--evaluate; default 0)")
      ->check(
          [](const std::string& value) {
            return value.starts_with('-') ? "expected a row index of 0 or more, found " + value
                                          : std::string();
          })
      ->type_name("ROW");

  InspectArguments inspect_arguments;
  CLI::App* inspect_command = app.add_subcommand(
      "inspect", "Print a model file's metadata, tensor table and graph");
  inspect_command->add_option("model", inspect_arguments.model, "Model file (.imb)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }

  if (verbose) spdlog::set_level(spdlog::level::debug);
  if (forecast_command->count("--evaluate-from") > 0) forecast_arguments.evaluate = true;

  Status status;
  if (convert_command->parsed()) {
    status = run_convert(convert_arguments);
  } else if (forecast_command->parsed()) {
    status = run_forecast_command(forecast_arguments);
  } else if (inspect_command->parsed()) {
    status = run_inspect(inspect_arguments);
  }
  if (!status) {
    spdlog::error("{}", status.message());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace infomamba::cli

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  infomamba::cli::configure_logging();
  try {
    return infomamba::cli::run_main(argc, argv);
  } catch (const std::exception& error) {
    spdlog::error("{}", error.what());
    return 1;
  }
}
