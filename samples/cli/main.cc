// infomamba: command-line front end of the InfoMamba runtime.
//
// stdout carries only the command's result (a CSV stream for `forecast`, a
// report for `convert` and `inspect`). Logs, summaries and errors go to
// stderr. Exit codes: 0 success, 1 error, 2 invalid command line.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "csv.h"
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
  std::string output;  // "-" for stdout
  bool evaluate = false;
  std::string evaluate_from;  // empty, or digits checked by parse_row_index()
};

struct InspectArguments {
  std::string model;
};

// Makes one stderr logger both the default logger and the library's logger
// "infomamba", so that library warnings print once, in the CLI's format.
// It must run before the first library call, because the library looks its
// logger up once.
void configure_logging() {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("infomamba", std::move(sink));
  logger->set_pattern("%^%l%$: %v");
  spdlog::drop("infomamba");
  spdlog::set_default_logger(std::move(logger));
  spdlog::set_level(spdlog::level::info);
}

Status open_error(const std::string& file_role, const std::string& path) {
  const int error = errno;
  const StatusCode code = error == ENOENT ? StatusCode::kNotFound : StatusCode::kIoError;
  return Status(code, "cannot open " + file_role + " " + quote_path(path) + ": " +
                          std::strerror(error));
}

// Flushes stdout and reports whether every write to it succeeded, so that a
// full disk or a closed pipe is an error and not a silent exit 0.
Status flush_stdout() {
  std::cout.flush();
  if (!std::cout) return Status(StatusCode::kIoError, "writing standard output failed");
  return Status::ok();
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
  // The converter has logged report.warnings through the shared logger.
  write_convert_report(report, arguments.output, std::cout);
  return flush_stdout();
}

Status run_inspect(const InspectArguments& arguments) {
  IMB_ASSIGN_OR_RETURN(const std::shared_ptr<const Model> model, load_model(arguments.model));
  write_model_description(*model, std::cout);
  return flush_stdout();
}

// Rejects an output that is the same file as `other` (the model or the
// input). Opening it for writing would truncate a file that is still to be
// read, and the model file is memory-mapped, so truncating it crashes the
// process with SIGBUS. An output that does not exist yet is no other file.
Status check_distinct_files(const std::string& output, const std::string& other,
                            const std::string& other_role, const std::string& other_label) {
  std::error_code error;
  if (std::filesystem::equivalent(output, other, error)) {
    return Status(StatusCode::kInvalidArgument,
                  "output " + quote_path(output) + " is the " + other_role + " " + other_label +
                      ", expected a different path");
  }
  return Status::ok();
}

// Parses a 0-based row index given on the command line.
Result<size_t> parse_row_index(const std::string& text) {
  size_t value = 0;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, value);
  if (result.ec == std::errc::result_out_of_range) {
    return Status(StatusCode::kInvalidArgument,
                  "row index " + escape_for_message(text) + " is too large, expected at most " +
                      std::to_string(std::numeric_limits<size_t>::max()));
  }
  if (result.ec != std::errc() || result.ptr != end) {
    return Status(StatusCode::kInvalidArgument, "row index " + quote_for_message(text) +
                                                    " is not a whole number, expected 0 or more");
  }
  return value;
}

Status run_forecast_command(const ForecastArguments& arguments) {
  const bool from_stdin = arguments.input == "-";
  const std::string input_label = from_stdin ? std::string("stdin") : quote_path(arguments.input);
  const bool to_stdout = arguments.output == "-";

  // Checked before anything is opened, so that no file is truncated.
  if (!to_stdout) {
    IMB_RETURN_IF_ERROR(check_distinct_files(arguments.output, arguments.model, "model file",
                                             quote_path(arguments.model)));
    IMB_RETURN_IF_ERROR(check_distinct_files(arguments.output,
                                             from_stdin ? "/dev/stdin" : arguments.input,
                                             "input", input_label));
  }

  IMB_ASSIGN_OR_RETURN(const std::shared_ptr<const Model> model, load_model(arguments.model));
  const ModelInfo& info = model->info();

  size_t evaluate_from = 0;
  if (!arguments.evaluate_from.empty()) {
    IMB_ASSIGN_OR_RETURN(evaluate_from, parse_row_index(arguments.evaluate_from));
    // Origin t is scored once row t + H has arrived, so the first window needs
    // t + H + 1 rows, and the row count is a size_t.
    if (evaluate_from > std::numeric_limits<size_t>::max() - info.horizon - 1) {
      return Status(StatusCode::kInvalidArgument,
                    "--evaluate-from " + std::to_string(evaluate_from) +
                        " leaves no window to score: with horizon " +
                        std::to_string(info.horizon) + " the first window needs " +
                        std::to_string(evaluate_from) + " + " + std::to_string(info.horizon) +
                        " + 1 data rows, more than the maximum row count " +
                        std::to_string(std::numeric_limits<size_t>::max()));
    }
  }

  IMB_ASSIGN_OR_RETURN(Session session, Session::create(model));
  std::ifstream input_file;
  if (!from_stdin) {
    std::error_code error;
    if (std::filesystem::is_directory(arguments.input, error)) {
      return Status(StatusCode::kInvalidArgument,
                    "input " + input_label + " is a directory, expected a CSV file");
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
  options.evaluate_from = evaluate_from;

  SessionForecaster forecaster(session);
  CsvForecast forecast(forecaster, input, options);
  const Status header_status = forecast.read_header();
  if (!header_status) return header_status.with_context(input_label);

  // The output is opened only now, so that a model or header error leaves an
  // existing output file untouched.
  std::ofstream output_file;
  if (!to_stdout) {
    output_file.open(arguments.output, std::ios::binary | std::ios::trunc);
    if (!output_file) return open_error("output file", arguments.output);
  }
  std::ostream& output = to_stdout ? std::cout : output_file;

  const std::string output_label =
      to_stdout ? std::string("standard output") : "output file " + quote_path(arguments.output);
  const Status status = forecast.run(output);
  const ForecastSummary& summary = forecast.summary();
  if (summary.output_failed) {
    // The failed write may be the one that caused `status`, or come after a
    // row error, so the count of rows that reached the output is unknown.
    if (!status && status.code() != StatusCode::kIoError) {
      spdlog::error("{}", sanitize_for_terminal(status.with_context(input_label).message(), 4096));
    }
    return Status(StatusCode::kIoError, "writing " + output_label + " failed after " +
                                            count_noun(summary.rows, "forecast row") +
                                            (summary.rows == 1 ? " was" : " were") +
                                            " produced");
  }
  if (!status) {
    spdlog::info("rows written before the error: {}", summary.rows);
    return status.with_context(input_label);
  }
  if (!to_stdout) {
    output_file.close();
    if (!output_file) {
      return Status(StatusCode::kIoError, "closing " + output_label + " failed");
    }
  }

  spdlog::info("rows forecast: {}, each {} x {}", summary.rows,
               count_noun(info.horizon, "step"), count_noun(info.channels, "channel"));
  spdlog::info("filled {} missing {} with one-step forecasts", summary.filled_cells,
               summary.filled_cells == 1 ? "cell" : "cells");
  if (summary.evaluation) {
    write_evaluation_report(*summary.evaluation, info.channel_names, std::cerr);
  }
  return Status::ok();
}

// Prints a command-line error the way CLI11 prints its own and returns exit
// code 2.
int usage_error(const std::string& message) {
  std::cerr << "error: " << sanitize_for_terminal(message, 4096)
            << "\nRun with --help for more information.\n";
  return 2;
}

// Returns the arguments with `help` and `help SUBCOMMAND` rewritten as
// `--help` and `SUBCOMMAND --help`.
std::vector<std::string> rewrite_help(int argc, char** argv) {
  std::vector<std::string> arguments(argv + 1, argv + argc);
  if (!arguments.empty() && arguments[0] == "help") {
    arguments.erase(arguments.begin());
    arguments.emplace_back("--help");
  }
  return arguments;
}

// Returns an error for an argument given as an empty string, such as -o "".
// `option` is the CLI11 name, `label` the name shown in the message.
Status check_not_empty(const CLI::App& command, const std::string& option,
                       const std::string& label, const std::string& value,
                       const std::string& expected) {
  if (command.count(option) > 0 && value.empty()) {
    return Status(StatusCode::kInvalidArgument, label + " is empty; give " + expected);
  }
  return Status::ok();
}

int run_main(int argc, char** argv) {
  CLI::App app("Convert InfoMamba checkpoints, inspect model files and forecast CSV streams.",
               "infomamba");
  app.set_version_flag("--version", INFOMAMBA_VERSION);
  // At most one subcommand; a missing or unknown one is reported after
  // parsing, with its name, because CLI11 2.1 reports both as "A subcommand
  // is required".
  app.require_subcommand(0, 1);
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
  forecast_arguments.output = "-";
  CLI::App* forecast_command = app.add_subcommand(
      "forecast",
      "Stream a CSV file through a model, writing one H-step forecast row per input row");
  forecast_command->footer(
      "The input header must name every model channel. Other columns are copied to the output "
      "before the forecast columns <channel>@+<r>, r = 1..H. An empty channel cell is filled "
      "with the previous row's one-step forecast (the training mean on the first row). "
      "A header-only input gives a header-only output. A record (a line, or several lines "
      "joined by a quoted field) may be at most 16 MiB long. Summaries go to stderr.");
  forecast_command->add_option("model", forecast_arguments.model, "Model file (.imb)")->required();
  forecast_command->add_option("-i,--input", forecast_arguments.input,
                               "Input CSV file, or - for stdin. Unless it is a regular file, "
                               "the output is flushed after every row")
      ->required();
  forecast_command->add_option("-o,--output", forecast_arguments.output,
                               "Output CSV file, or - for stdout (default: stdout). It must "
                               "not be the model or the input file");
  forecast_command->add_flag(
      "--evaluate", forecast_arguments.evaluate,
      "Score each forecast against the rows that arrive later and report MSE and MAE, in "
      "standardised and original units, on stderr");
  forecast_command->add_option("--evaluate-from", forecast_arguments.evaluate_from,
                               "First 0-based data row scored as a forecast origin (implies "
                               "--evaluate; default 0)")
      ->check([](const std::string& value) {
        const Result<size_t> row = parse_row_index(value);
        return row ? std::string() : row.status().message();
      })
      ->type_name("ROW");

  InspectArguments inspect_arguments;
  CLI::App* inspect_command = app.add_subcommand(
      "inspect", "Print a model file's metadata, tensor table and graph");
  inspect_command->add_option("model", inspect_arguments.model, "Model file (.imb)")->required();

  // Unknown arguments are collected and reported after parsing, with a
  // message that names them. Set after the subcommands are added, so that
  // the subcommands, which copy this setting when they are created, pass
  // their unknown arguments up here through fallthrough().
  app.allow_extras();

  std::vector<std::string> arguments = rewrite_help(argc, argv);
  std::reverse(arguments.begin(), arguments.end());  // CLI11 parses a vector from the back
  try {
    app.parse(arguments);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }

  const std::vector<std::string> extras = app.remaining();
  if (!extras.empty()) {
    const std::string& first = extras.front();
    if (app.get_subcommands().empty() && !first.starts_with('-')) {
      return usage_error("unknown subcommand " + quote_path(first) +
                         ", expected convert, forecast or inspect");
    }
    return usage_error((first.starts_with('-') ? "unknown option " : "unexpected argument ") +
                       quote_path(first));
  }
  if (app.get_subcommands().empty()) {
    return usage_error("a subcommand is required: convert, forecast or inspect");
  }

  for (const Status& check : {
           check_not_empty(*convert_command, "checkpoint", "the checkpoint path",
                           convert_arguments.checkpoint,
                           "a checkpoint folder or a .safetensors file"),
           check_not_empty(*convert_command, "--output", "--output", convert_arguments.output,
                           "a file path"),
           check_not_empty(*forecast_command, "model", "the model path", forecast_arguments.model,
                           "a file path"),
           check_not_empty(*forecast_command, "--input", "--input", forecast_arguments.input,
                           "a file path, or - for stdin"),
           check_not_empty(*forecast_command, "--output", "--output", forecast_arguments.output,
                           "a file path, or - for stdout"),
           check_not_empty(*inspect_command, "model", "the model path", inspect_arguments.model,
                           "a file path"),
       }) {
    if (!check) return usage_error(check.message());
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
    // Messages can contain text from the input or the model file, which the
    // code that built them should have escaped. Escaping again here is a
    // safety net that leaves escaped text unchanged.
    spdlog::error("{}", sanitize_for_terminal(status.message(), 4096));
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
    spdlog::error("{}", infomamba::cli::sanitize_for_terminal(error.what(), 4096));
    return 1;
  }
}
