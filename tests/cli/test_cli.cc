// Tests of the `infomamba` command-line front end: CSV reading and writing,
// the forecast loop on a model with a known forecast, the evaluation
// arithmetic, the reports, and end-to-end runs on the converted fixtures.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "csv.h"
#include "evaluation.h"
#include "forecast_command.h"
#include "infomamba/converter.h"
#include "infomamba/runtime.h"
#include "inspect_command.h"

namespace fs = std::filesystem;
using infomamba::ModelInfo;
using infomamba::Status;
using infomamba::StatusCode;
using namespace infomamba::cli;

namespace {

std::vector<std::vector<std::string>> read_all_records(const std::string& text,
                                                       std::vector<size_t>* lines = nullptr) {
  std::istringstream in(text);
  CsvReader reader(in);
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> fields;
  while (true) {
    auto has_record = reader.read_record(fields);
    REQUIRE_MESSAGE(has_record.is_ok(), has_record.status().message());
    if (!has_record.value()) break;
    records.push_back(fields);
    if (lines != nullptr) lines->push_back(reader.record_line());
  }
  return records;
}

Status first_record_error(const std::string& text) {
  std::istringstream in(text);
  CsvReader reader(in);
  std::vector<std::string> fields;
  while (true) {
    auto has_record = reader.read_record(fields);
    if (!has_record.is_ok()) return has_record.status();
    if (!has_record.value()) return Status::ok();
  }
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// A model whose forecast is known: row r of channel c is the last observation
// plus r * step[c]. It records every observation it receives.
class LinearTrendForecaster final : public StreamForecaster {
 public:
  LinearTrendForecaster(std::vector<std::string> names, std::vector<double> mean,
                        std::vector<double> std, size_t horizon, std::vector<float> step)
      : step_(std::move(step)) {
    info_.input_kind = "continuous";
    info_.output_kind = "forecast";
    info_.channels = names.size();
    info_.channel_names = std::move(names);
    info_.mean = std::move(mean);
    info_.std = std::move(std);
    info_.horizon = horizon;
  }

  const ModelInfo& info() const override { return info_; }
  ModelInfo& mutable_info() { return info_; }

  Status step(std::span<const float> observation, std::span<float> forecast) override {
    const size_t channels = info_.channels;
    REQUIRE(observation.size() == channels);
    REQUIRE(forecast.size() == info_.horizon * channels);
    observations.emplace_back(observation.begin(), observation.end());
    for (size_t r = 1; r <= info_.horizon; ++r) {
      for (size_t c = 0; c < channels; ++c) {
        forecast[(r - 1) * channels + c] = observation[c] + static_cast<float>(r) * step_[c];
      }
    }
    return Status::ok();
  }

  std::vector<std::vector<float>> observations;

 private:
  ModelInfo info_;
  std::vector<float> step_;
};

// Two channels a and b, horizon 3, a rises by 1 per step and b by 0.5.
LinearTrendForecaster make_two_channel_model() {
  return LinearTrendForecaster({"a", "b"}, {10.0, 20.0}, {2.0, 4.0}, 3, {1.0f, 0.5f});
}

struct ForecastRun {
  Status status;
  std::string output;
  ForecastSummary summary;
};

ForecastRun forecast_csv(StreamForecaster& model, const std::string& input,
                         ForecastOptions options = {}) {
  std::istringstream in(input);
  std::ostringstream out;
  CsvForecast forecast(model, in, options);
  ForecastRun run;
  run.status = forecast.read_header();
  if (run.status.is_ok()) run.status = forecast.run(out);
  run.output = out.str();
  run.summary = forecast.summary();
  return run;
}

// A string buffer that counts flushes.
class CountingBuffer : public std::stringbuf {
 public:
  int flushes = 0;

 protected:
  int sync() override {
    ++flushes;
    return std::stringbuf::sync();
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// CSV reading

TEST_CASE("csv reader splits plain fields") {
  const auto records = read_all_records("date,a,b\n2024-01-01,1.5,2\n");
  REQUIRE(records.size() == 2);
  CHECK(records[0] == std::vector<std::string>{"date", "a", "b"});
  CHECK(records[1] == std::vector<std::string>{"2024-01-01", "1.5", "2"});
}

TEST_CASE("csv reader handles quotes and doubled quotes") {
  const auto records = read_all_records(
      "name,value\n"
      "\"Smith, John\",1\n"
      "\"say \"\"hi\"\"\",2\n"
      "\"\",3\n"
      "plain\"quote,4\n");
  REQUIRE(records.size() == 5);
  CHECK(records[1] == std::vector<std::string>{"Smith, John", "1"});
  CHECK(records[2] == std::vector<std::string>{"say \"hi\"", "2"});
  CHECK(records[3] == std::vector<std::string>{"", "3"});
  CHECK(records[4] == std::vector<std::string>{"plain\"quote", "4"});
}

TEST_CASE("csv reader keeps line breaks inside quotes") {
  std::vector<size_t> lines;
  const auto records = read_all_records("id,note\n1,\"two\nlines\"\n2,x\n", &lines);
  REQUIRE(records.size() == 3);
  CHECK(records[1] == std::vector<std::string>{"1", "two\nlines"});
  CHECK(records[2] == std::vector<std::string>{"2", "x"});
  CHECK(lines == std::vector<size_t>{1, 2, 4});
}

TEST_CASE("csv reader accepts CRLF line ends") {
  std::vector<size_t> lines;
  const auto records = read_all_records("a,b\r\n1,2\r\n\"x\r\ny\",3\r\n", &lines);
  REQUIRE(records.size() == 3);
  CHECK(records[0] == std::vector<std::string>{"a", "b"});
  CHECK(records[1] == std::vector<std::string>{"1", "2"});
  CHECK(records[2] == std::vector<std::string>{"x\r\ny", "3"});
  CHECK(lines == std::vector<size_t>{1, 2, 3});
}

TEST_CASE("csv reader keeps empty cells") {
  const auto records = read_all_records("a,b,c\n,,\n1,,\n,2,\"\"\n");
  REQUIRE(records.size() == 4);
  CHECK(records[1] == std::vector<std::string>{"", "", ""});
  CHECK(records[2] == std::vector<std::string>{"1", "", ""});
  CHECK(records[3] == std::vector<std::string>{"", "2", ""});
}

TEST_CASE("csv reader skips empty lines but counts them") {
  std::vector<size_t> lines;
  const auto records = read_all_records("a,b\n\n1,2\r\n\r\n3,4", &lines);
  REQUIRE(records.size() == 3);
  CHECK(records[2] == std::vector<std::string>{"3", "4"});
  CHECK(lines == std::vector<size_t>{1, 3, 5});
}

TEST_CASE("csv reader drops a byte order mark") {
  const auto records = read_all_records("\xEF\xBB\xBF" "date,a\n1,2\n");
  REQUIRE(records.size() == 2);
  CHECK(records[0][0] == "date");
}

TEST_CASE("csv reader returns field counts as found") {
  const auto records = read_all_records("a,b,c\n1,2\n1,2,3,4\n");
  REQUIRE(records.size() == 3);
  CHECK(records[1].size() == 2);
  CHECK(records[2].size() == 4);
}

TEST_CASE("csv reader rejects an unclosed quote") {
  const Status status = first_record_error("a,b\n1,\"open\n2,3\n");
  REQUIRE_FALSE(status.is_ok());
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK(contains(status.message(), "line 2"));
  CHECK(contains(status.message(), "not closed"));
}

TEST_CASE("csv reader rejects text after a closing quote") {
  const Status status = first_record_error("a,b\n\"x\"y,1\n");
  REQUIRE_FALSE(status.is_ok());
  CHECK(contains(status.message(), "line 2"));
  CHECK(contains(status.message(), "character \"y\""));
}

TEST_CASE("csv reader stops at the end of the record") {
  // On a live pipe the next line may not exist yet, so the reader must not
  // consume it before it is needed.
  std::istringstream in("a,b\n1,2\n3,4\n");
  CsvReader reader(in);
  std::vector<std::string> fields;
  REQUIRE(reader.read_record(fields).value());
  CHECK(in.tellg() == std::streampos(4));
  REQUIRE(reader.read_record(fields).value());
  CHECK(in.tellg() == std::streampos(8));
}

// ---------------------------------------------------------------------------
// CSV writing and number formats

TEST_CASE("csv field writer quotes only when needed") {
  std::string out;
  append_csv_field(out, "plain");
  CHECK(out == "plain");
  out.clear();
  append_csv_field(out, "a,b");
  CHECK(out == "\"a,b\"");
  out.clear();
  append_csv_field(out, "say \"hi\"");
  CHECK(out == "\"say \"\"hi\"\"\"");
  out.clear();
  append_csv_field(out, "two\nlines");
  CHECK(out == "\"two\nlines\"");
  out.clear();
  append_csv_field(out, "");
  CHECK(out == "");
}

TEST_CASE("csv field writer round-trips through the reader") {
  const std::vector<std::string> fields = {"x", "a,b", "\"q\"", "line\r\nbreak", "", " pad "};
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line.push_back(',');
    append_csv_field(line, fields[i]);
  }
  line.push_back('\n');
  const auto records = read_all_records(line);
  REQUIRE(records.size() == 1);
  CHECK(records[0] == fields);
}

TEST_CASE("float formatting is shortest and round-trips") {
  std::string out;
  append_float(out, 0.1f);
  CHECK(out == "0.1");
  out.clear();
  append_float(out, -2.5f);
  CHECK(out == "-2.5");

  const std::vector<float> values = {0.0f,
                                     -0.0f,
                                     1.0f / 3.0f,
                                     16.2f,
                                     1e-7f,
                                     123456789.0f,
                                     std::numeric_limits<float>::max(),
                                     std::numeric_limits<float>::min(),
                                     std::numeric_limits<float>::denorm_min()};
  for (const float value : values) {
    out.clear();
    append_float(out, value);
    float parsed = 1.0f;
    REQUIRE(parse_float_cell(out, parsed) == CellKind::kValue);
    CHECK_MESSAGE(parsed == value, out);
    CHECK(std::signbit(parsed) == std::signbit(value));
  }
}

TEST_CASE("numeric cell parser classifies cells") {
  struct Case {
    const char* cell;
    CellKind kind;
    float value;
  };
  const Case cases[] = {
      {"1.5", CellKind::kValue, 1.5f},
      {" 2 ", CellKind::kValue, 2.0f},
      {"\t-3e2", CellKind::kValue, -300.0f},
      {"+4", CellKind::kValue, 4.0f},
      {".5", CellKind::kValue, 0.5f},
      {"1e-50", CellKind::kValue, 0.0f},
      {"", CellKind::kEmpty, 0.0f},
      {"  ", CellKind::kEmpty, 0.0f},
      {"nan", CellKind::kNonFinite, 0.0f},
      {"NaN", CellKind::kNonFinite, 0.0f},
      {"inf", CellKind::kNonFinite, 0.0f},
      {"-Infinity", CellKind::kNonFinite, 0.0f},
      {"1e39", CellKind::kOutOfRange, 0.0f},
      {"-1e400", CellKind::kOutOfRange, 0.0f},
      {"abc", CellKind::kInvalid, 0.0f},
      {"1.5x", CellKind::kInvalid, 0.0f},
      {"0x10", CellKind::kInvalid, 0.0f},
      {"1,5", CellKind::kInvalid, 0.0f},
      {"+-1", CellKind::kInvalid, 0.0f},
      {"+", CellKind::kInvalid, 0.0f},
      {"1 2", CellKind::kInvalid, 0.0f},
  };
  for (const Case& test : cases) {
    float value = -99.0f;
    const CellKind kind = parse_float_cell(test.cell, value);
    CHECK_MESSAGE(kind == test.kind, "cell \"", test.cell, "\"");
    if (test.kind == CellKind::kValue) CHECK_MESSAGE(value == test.value, "cell \"", test.cell, "\"");
  }
}

TEST_CASE("message quoting escapes control characters") {
  CHECK(quote_for_message("abc") == "\"abc\"");
  CHECK(quote_for_message(std::string("a\0b", 3)) == "\"a\\x00b\"");
  CHECK(quote_for_message("tab\there") == "\"tab\\x09here\"");
  CHECK(quote_for_message("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(quote_for_message("caf\xC3\xA9") == "\"caf\xC3\xA9\"");
  CHECK(quote_for_message("a\\b") == "\"a\\\\b\"");
  CHECK(quote_for_message("bad\xFF") == "\"bad\\xff\"");
  const std::string long_value(100, 'x');
  CHECK(quote_for_message(long_value) == "\"" + std::string(64, 'x') + "\"... (100 bytes)");
}

TEST_CASE("message escaping handles bytes and length") {
  CHECK(escape_for_message("plain text") == "plain text");
  CHECK(escape_for_message("say \"hi\"") == "say \"hi\"");
  CHECK(escape_for_message("esc\x1b[31mred") == "esc\\x1b[31mred");
  CHECK(escape_for_message("line\nbreak\r") == "line\\x0abreak\\x0d");
  CHECK(escape_for_message("back\\slash") == "back\\\\slash");
  CHECK(escape_for_message("del\x7f") == "del\\x7f");

  // Valid UTF-8 is kept. Stray continuation bytes, truncated sequences,
  // overlong forms and surrogates are escaped byte by byte.
  CHECK(escape_for_message("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") ==
        "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(escape_for_message("\x80x") == "\\x80x");
  CHECK(escape_for_message("\xC3") == "\\xc3");
  CHECK(escape_for_message("\xC0\xAF") == "\\xc0\\xaf");
  CHECK(escape_for_message("\xED\xA0\x80") == "\\xed\\xa0\\x80");
  CHECK(escape_for_message("\xF5\x80\x80\x80") == "\\xf5\\x80\\x80\\x80");

  // Long texts are cut, never inside a UTF-8 character.
  const std::string long_text(10'000'000, 'y');
  const std::string shown = escape_for_message(long_text);
  CHECK(shown == std::string(200, 'y') + "... (10000000 bytes)");
  CHECK(escape_for_message(std::string(200, 'y')) == std::string(200, 'y'));
  CHECK(escape_for_message("ab\xC3\xA9", 3) == "ab... (4 bytes)");
  CHECK(escape_for_message("ab\xC3\xA9", 4) == "ab\xC3\xA9");
}

TEST_CASE("terminal sanitizing keeps escaped text") {
  const std::string escaped = quote_for_message(std::string("a\0b\\c", 5));
  CHECK(sanitize_for_terminal(escaped, 4096) == escaped);
  CHECK(sanitize_for_terminal("x\x1by\xFF", 4096) == "x\\x1by\\xff");
  CHECK(sanitize_for_terminal(std::string(5000, 'z'), 4096) ==
        std::string(4096, 'z') + "... (5000 bytes)");
}

TEST_CASE("count noun pluralizes") {
  CHECK(count_noun(0, "step") == "0 steps");
  CHECK(count_noun(1, "step") == "1 step");
  CHECK(count_noun(2, "channel") == "2 channels");
  CHECK(quote_path("a b/c.csv") == "'a b/c.csv'");
  CHECK(quote_path("x\ny") == "'x\\x0ay'");
}

TEST_CASE("csv reader limits record length") {
  // A record of exactly kMaxRecordBytes bytes, without its LF, is accepted.
  std::string fits = "a,b\n";
  fits += std::string(kMaxRecordBytes - 2, 'x') + ",1\n";
  const auto records = read_all_records(fits);
  REQUIRE(records.size() == 2);
  CHECK(records[1][0].size() == kMaxRecordBytes - 2);

  std::string too_long = "a,b\n1,2\n";
  too_long += std::string(kMaxRecordBytes - 1, 'x') + ",1\n";
  const Status status = first_record_error(too_long);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(contains(status.message(), "line 3: record longer than 16777216 bytes"),
                status.message());
  CHECK_FALSE(contains(status.message(), "quote"));
}

TEST_CASE("csv reader limits records joined by quotes") {
  // An unclosed quote joins every following line into one record.
  std::string text = "a,b\n\"";
  for (size_t i = 0; i < kMaxRecordBytes / 8 + 1; ++i) text += "1234567\n";
  const Status status = first_record_error(text);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK_MESSAGE(contains(status.message(), "line 2: record longer than"), status.message());
  CHECK(contains(status.message(), "quoted field is still open"));
}

namespace {

// A stream buffer whose reads fail with an exception after `good_bytes`.
class ThrowingBuffer : public std::streambuf {
 public:
  ThrowingBuffer(std::string text, bool out_of_memory)
      : text_(std::move(text)), out_of_memory_(out_of_memory) {
    setg(text_.data(), text_.data(), text_.data() + text_.size());
  }

 protected:
  int_type underflow() override {
    if (out_of_memory_) throw std::bad_alloc();
    throw std::runtime_error("device \x1b gone");
  }

 private:
  std::string text_;
  bool out_of_memory_;
};

}  // namespace

TEST_CASE("csv reader says why reading failed") {
  {
    ThrowingBuffer buffer("a,b\n1,2\n3", true);
    std::istream in(&buffer);
    in.exceptions(std::ios::goodbit);
    CsvReader reader(in);
    std::vector<std::string> fields;
    REQUIRE(reader.read_record(fields).value());
    REQUIRE(reader.read_record(fields).value());
    auto third = reader.read_record(fields);
    REQUIRE_FALSE(third.is_ok());
    CHECK(third.status().code() == StatusCode::kOutOfMemory);
    CHECK(third.status().message() == "out of memory reading line 3");
  }
  {
    ThrowingBuffer buffer("a,b\n", false);
    std::istream in(&buffer);
    CsvReader reader(in);
    std::vector<std::string> fields;
    REQUIRE(reader.read_record(fields).value());
    auto second = reader.read_record(fields);
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.status().code() == StatusCode::kIoError);
    CHECK(second.status().message() == "reading line 2 failed: device \\x1b gone");
  }
}

// ---------------------------------------------------------------------------
// Forecast loop on a model with a known forecast

TEST_CASE("forecast output header names and order") {
  LinearTrendForecaster model = make_two_channel_model();
  const ForecastRun run = forecast_csv(model, "time,b,note,a\n");
  REQUIRE_MESSAGE(run.status.is_ok(), run.status.message());
  CHECK(run.output == "time,note,a@+1,b@+1,a@+2,b@+2,a@+3,b@+3\n");
  CHECK(run.summary.rows == 0);
}

TEST_CASE("forecast writes one row per input row") {
  LinearTrendForecaster model = make_two_channel_model();
  const ForecastRun run = forecast_csv(model, "time,b,a\nt0,20,10\nt1,21.5,-1\n");
  REQUIRE_MESSAGE(run.status.is_ok(), run.status.message());
  const auto lines = split_lines(run.output);
  REQUIRE(lines.size() == 3);
  CHECK(lines[1] == "t0,11,20.5,12,21,13,21.5");
  CHECK(lines[2] == "t1,0,22,1,22.5,2,23");
  CHECK(run.summary.rows == 2);
  CHECK(run.summary.filled_cells == 0);
  REQUIRE(model.observations.size() == 2);
  CHECK(model.observations[0] == std::vector<float>{10.0f, 20.0f});
  CHECK(model.observations[1] == std::vector<float>{-1.0f, 21.5f});
}

TEST_CASE("forecast requotes copied columns") {
  LinearTrendForecaster model = make_two_channel_model();
  const ForecastRun run =
      forecast_csv(model, "\"label, quoted\",a,b\r\n\"x, \"\"y\"\"\",1,2\r\n");
  REQUIRE_MESSAGE(run.status.is_ok(), run.status.message());
  const auto lines = split_lines(run.output);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].starts_with("\"label, quoted\",a@+1,"));
  CHECK(lines[1].starts_with("\"x, \"\"y\"\"\",2,2.5,"));
}

TEST_CASE("forecast header lists every missing channel") {
  LinearTrendForecaster model({"HUFL", "HULL", "OT"}, {0, 0, 0}, {1, 1, 1}, 2, {0, 0, 0});
  const ForecastRun run = forecast_csv(model, "date,HULL,other\n2020,1,2\n");
  REQUIRE_FALSE(run.status.is_ok());
  CHECK(run.status.code() == StatusCode::kNotFound);
  const std::string& message = run.status.message();
  CHECK(contains(message, "2 of the 3 model channels"));
  CHECK(contains(message, "HUFL,OT"));
  CHECK(contains(message, "header found: date,HULL,other"));
  CHECK(run.output.empty());
}

TEST_CASE("forecast rejects a channel named twice") {
  LinearTrendForecaster model = make_two_channel_model();
  const ForecastRun run = forecast_csv(model, "a,b,a\n1,2,3\n");
  REQUIRE_FALSE(run.status.is_ok());
  CHECK(contains(run.status.message(), "\"a\""));
  CHECK(contains(run.status.message(), "columns 1 and 3"));
}

TEST_CASE("forecast matches header names with blanks around them") {
  LinearTrendForecaster model = make_two_channel_model();
  const ForecastRun run = forecast_csv(model, "time, a , b\nt,1,2\n");
  REQUIRE_MESSAGE(run.status.is_ok(), run.status.message());
  CHECK(split_lines(run.output)[0] == "time,a@+1,b@+1,a@+2,b@+2,a@+3,b@+3");
}

TEST_CASE("forecast rejects an empty input") {
  LinearTrendForecaster model = make_two_channel_model();
  for (const char* input : {"", "\n\n", "\r\n"}) {
    const ForecastRun run = forecast_csv(model, input);
    REQUIRE_FALSE(run.status.is_ok());
    CHECK(contains(run.status.message(), "input is empty"));
    CHECK(contains(run.status.message(), "a,b"));
    CHECK(run.output.empty());
  }
}

TEST_CASE("forecast rejects a non-forecasting model") {
  LinearTrendForecaster model = make_two_channel_model();
  model.mutable_info().input_kind = "tokens";
  const ForecastRun run = forecast_csv(model, "a,b\n1,2\n");
  REQUIRE_FALSE(run.status.is_ok());
  CHECK(run.status.code() == StatusCode::kUnsupported);
  CHECK(contains(run.status.message(), "\"tokens\""));
}

TEST_CASE("forecast error names line column and value") {
  struct Case {
    const char* cell;
    const char* problem;
  };
  const Case cases[] = {
      {"abc", "is not a number"}, {"1.5x", "is not a number"}, {"nan", "is not finite"},
      {"NaN", "is not finite"},   {"inf", "is not finite"},   {"-inf", "is not finite"},
      {"1e40", "outside the float range"},
  };
  for (const Case& test : cases) {
    LinearTrendForecaster model = make_two_channel_model();
    const std::string input = "time,a,b\nt0,1,2\n\nt1,3," + std::string(test.cell) + "\nt2,5,6\n";
    const ForecastRun run = forecast_csv(model, input);
    REQUIRE_FALSE(run.status.is_ok());
    CHECK(run.status.code() == StatusCode::kInvalidArgument);
    const std::string& message = run.status.message();
    CHECK_MESSAGE(contains(message, "line 4, column \"b\""), message);
    CHECK_MESSAGE(contains(message, "value \"" + std::string(test.cell) + "\""), message);
    CHECK_MESSAGE(contains(message, test.problem), message);
  }
}

TEST_CASE("forecast keeps rows written before an error") {
  LinearTrendForecaster model = make_two_channel_model();
  std::istringstream in("time,a,b\nt0,1,2\nt1,3,4\nt2,oops,6\nt3,7,8\n");
  CountingBuffer buffer;
  std::ostream out(&buffer);
  CsvForecast forecast(model, in, {});
  REQUIRE(forecast.read_header().is_ok());
  const Status status = forecast.run(out);
  REQUIRE_FALSE(status.is_ok());
  CHECK(contains(status.message(), "line 4"));
  CHECK(contains(status.message(), "\"oops\""));

  const auto lines = split_lines(buffer.str());
  REQUIRE(lines.size() == 3);
  CHECK(lines[1].starts_with("t0,"));
  CHECK(lines[2].starts_with("t1,"));
  CHECK(forecast.summary().rows == 2);
  CHECK(buffer.flushes >= 1);
  CHECK(model.observations.size() == 2);
}

TEST_CASE("forecast header error is escaped and cut") {
  LinearTrendForecaster model = make_two_channel_model();
  const std::string huge_name(10'000'000, 'h');
  const ForecastRun run = forecast_csv(model, "\x1b]0;x\x07," + huge_name + ",a\n1,2,3\n");
  REQUIRE_FALSE(run.status.is_ok());
  const std::string& message = run.status.message();
  CHECK(message.size() < 1000);
  CHECK(contains(message, "header found: \\x1b]0;x\\x07,hhh"));
  CHECK(contains(message, "... (10000009 bytes)"));
  CHECK(message.find('\x1b') == std::string::npos);
  CHECK(run.output.empty());
}

TEST_CASE("forecast escapes model channel names") {
  LinearTrendForecaster model({"a\x1b[2J", "b\xFF"}, {0.0, 0.0}, {1.0, 1.0}, 1, {0.0f, 0.0f});
  const ForecastRun missing = forecast_csv(model, "time\nt0\n");
  REQUIRE_FALSE(missing.status.is_ok());
  CHECK_MESSAGE(contains(missing.status.message(), "a\\x1b[2J,b\\xff"), missing.status.message());
  CHECK(missing.status.message().find('\x1b') == std::string::npos);

  const ForecastRun bad_cell = forecast_csv(model, "a\x1b[2J,b\xFF\nx,1\n");
  REQUIRE_FALSE(bad_cell.status.is_ok());
  CHECK_MESSAGE(contains(bad_cell.status.message(), "column \"a\\x1b[2J\""),
                bad_cell.status.message());

  model.mutable_info().input_kind = "tok\x1b" "ens";
  const ForecastRun unsupported = forecast_csv(model, "a\x1b[2J,b\xFF\n1,1\n");
  REQUIRE_FALSE(unsupported.status.is_ok());
  CHECK(contains(unsupported.status.message(), "\"tok\\x1bens\""));
}

namespace {

// Passes observations through LinearTrendForecaster, then replaces one value
// of the forecast after `good_rows` rows with `bad_value`.
class BrokenForecaster final : public StreamForecaster {
 public:
  BrokenForecaster(size_t good_rows, size_t bad_index, float bad_value)
      : inner_(make_two_channel_model()),
        good_rows_(good_rows),
        bad_index_(bad_index),
        bad_value_(bad_value) {}
  const ModelInfo& info() const override { return inner_.info(); }
  Status step(std::span<const float> observation, std::span<float> forecast) override {
    IMB_RETURN_IF_ERROR(inner_.step(observation, forecast));
    if (rows_++ >= good_rows_) forecast[bad_index_] = bad_value_;
    return Status::ok();
  }

 private:
  LinearTrendForecaster inner_;
  size_t good_rows_;
  size_t bad_index_;
  float bad_value_;
  size_t rows_ = 0;
};

}  // namespace

TEST_CASE("forecast stops on a non-finite forecast") {
  // Index 3 of the H x C = 3 x 2 forecast is channel b at step 2.
  BrokenForecaster model(2, 3, std::numeric_limits<float>::infinity());
  const ForecastRun run = forecast_csv(model, "time,a,b\nt0,1,2\nt1,,4\nt2,5,6\nt3,7,8\n");
  REQUIRE_FALSE(run.status.is_ok());
  CHECK(run.status.code() == StatusCode::kInvalidModel);
  CHECK(run.status.message() ==
        "line 4: the model's forecast is not finite (inf at b@+2); the model file may be corrupt");
  const auto lines = split_lines(run.output);
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].starts_with("t1,"));
  CHECK(run.summary.rows == 2);

  BrokenForecaster nan_model(0, 0, std::numeric_limits<float>::quiet_NaN());
  const ForecastRun nan_run = forecast_csv(nan_model, "time,a,b\nt0,1,2\n");
  REQUIRE_FALSE(nan_run.status.is_ok());
  CHECK(contains(nan_run.status.message(), "line 2: the model's forecast is not finite (nan at a@+1)"));
}

namespace {

// A stream buffer that accepts `capacity` bytes and then fails every write,
// like a full disk.
class FullBuffer : public std::streambuf {
 public:
  explicit FullBuffer(size_t capacity) : capacity_(capacity) {}
  std::string written;

 protected:
  int_type overflow(int_type c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    if (written.size() >= capacity_) return traits_type::eof();
    written.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* data, std::streamsize size) override {
    const size_t room = capacity_ - std::min(capacity_, written.size());
    const size_t accepted = std::min(room, static_cast<size_t>(size));
    written.append(data, accepted);
    return static_cast<std::streamsize>(accepted);
  }

 private:
  size_t capacity_;
};

}  // namespace

TEST_CASE("forecast reports a failed output") {
  LinearTrendForecaster model = make_two_channel_model();
  std::istringstream in("time,a,b\nt0,1,2\nt1,3,4\n");
  FullBuffer buffer(20);
  std::ostream out(&buffer);
  CsvForecast forecast(model, in, {});
  REQUIRE(forecast.read_header().is_ok());
  const Status status = forecast.run(out);
  REQUIRE_FALSE(status.is_ok());
  CHECK(status.code() == StatusCode::kIoError);
  CHECK_MESSAGE(contains(status.message(), "writing the output failed"), status.message());
  CHECK(contains(status.message(), "after 0 rows were produced"));
  CHECK(forecast.summary().output_failed);
  CHECK(forecast.summary().rows == 0);

  LinearTrendForecaster good_model = make_two_channel_model();
  const ForecastRun good = forecast_csv(good_model, "time,a,b\nt0,1,2\n");
  REQUIRE(good.status.is_ok());
  CHECK_FALSE(good.summary.output_failed);
}

TEST_CASE("forecast pluralizes field counts") {
  LinearTrendForecaster model({"a"}, {0.0}, {1.0}, 1, {0.0f});
  const ForecastRun run = forecast_csv(model, "a,b\n\"x\"\n");
  REQUIRE_FALSE(run.status.is_ok());
  CHECK_MESSAGE(contains(run.status.message(), "line 2: 1 field, expected 2"), run.status.message());
}

TEST_CASE("forecast rejects a row with the wrong field count") {
  LinearTrendForecaster model = make_two_channel_model();
  const ForecastRun run = forecast_csv(model, "time,a,b\nt0,1,2\nt1,3\n");
  REQUIRE_FALSE(run.status.is_ok());
  CHECK(contains(run.status.message(), "line 3: 2 fields, expected 3"));
  CHECK(split_lines(run.output).size() == 2);
}

TEST_CASE("forecast fills missing cells with one-step forecasts") {
  LinearTrendForecaster model = make_two_channel_model();
  // Row 0 lacks a: filled with its mean 10. Row 1 lacks b: filled with the
  // one-step forecast of row 0, 2 + 0.5. Row 2 lacks both: 4 + 1 and 2.5 + 0.5.
  const ForecastRun run = forecast_csv(model, "time,a,b\nt0,,2\nt1,4,\nt2,\"\", \n");
  REQUIRE_MESSAGE(run.status.is_ok(), run.status.message());
  CHECK(run.summary.filled_cells == 4);
  REQUIRE(model.observations.size() == 3);
  CHECK(model.observations[0] == std::vector<float>{10.0f, 2.0f});
  CHECK(model.observations[1] == std::vector<float>{4.0f, 2.5f});
  CHECK(model.observations[2] == std::vector<float>{5.0f, 3.0f});
}

TEST_CASE("forecast flushes every row when asked") {
  LinearTrendForecaster model = make_two_channel_model();
  std::istringstream in("a,b\n1,2\n3,4\n5,6\n");
  CountingBuffer buffer;
  std::ostream out(&buffer);
  ForecastOptions options;
  options.flush_every_row = true;
  CsvForecast forecast(model, in, options);
  REQUIRE(forecast.read_header().is_ok());
  REQUIRE(forecast.run(out).is_ok());
  // The header, three rows and the final flush.
  CHECK(buffer.flushes == 5);
}

TEST_CASE("forecast evaluation on a hand-computed case") {
  // One channel, horizon 2, std 2; the forecast for step r is x_t + r.
  // x = 1, 2, 4, 7. Origin 0 forecasts (2, 3) against (2, 4): errors 0, -1.
  // Origin 1 forecasts (3, 4) against (4, 7): errors -1, -3. Origins 2 and 3
  // lack targets. MSE = 11 / 4, MAE = 5 / 4; standardised: divide by 4 and 2.
  LinearTrendForecaster model({"x"}, {0.0}, {2.0}, 2, {1.0f});
  ForecastOptions options;
  options.evaluate = true;
  const ForecastRun run = forecast_csv(model, "x\n1\n2\n4\n7\n", options);
  REQUIRE_MESSAGE(run.status.is_ok(), run.status.message());
  REQUIRE(run.summary.evaluation.has_value());
  const EvaluationSummary& evaluation = *run.summary.evaluation;
  CHECK(evaluation.windows == 2);
  CHECK(evaluation.values == 4);
  const ChannelErrors total = evaluation.total();
  REQUIRE(total.count == 4);
  CHECK(total.sum_squared / 4.0 == doctest::Approx(2.75));
  CHECK(total.sum_absolute / 4.0 == doctest::Approx(1.25));
  CHECK(total.sum_squared_standardized / 4.0 == doctest::Approx(0.6875));
  CHECK(total.sum_absolute_standardized / 4.0 == doctest::Approx(0.625));

  options.evaluate_from = 1;
  LinearTrendForecaster second({"x"}, {0.0}, {2.0}, 2, {1.0f});
  const ForecastRun from_one = forecast_csv(second, "x\n1\n2\n4\n7\n", options);
  REQUIRE(from_one.summary.evaluation.has_value());
  CHECK(from_one.summary.evaluation->windows == 1);
  CHECK(from_one.summary.evaluation->values == 2);
  CHECK(from_one.summary.evaluation->total().sum_squared == doctest::Approx(10.0));
  CHECK(from_one.summary.evaluation->total().sum_absolute == doctest::Approx(4.0));
}

TEST_CASE("forecast without evaluate has no evaluation") {
  LinearTrendForecaster model = make_two_channel_model();
  const ForecastRun run = forecast_csv(model, "a,b\n1,2\n");
  REQUIRE(run.status.is_ok());
  CHECK_FALSE(run.summary.evaluation.has_value());
}

// ---------------------------------------------------------------------------
// Evaluation arithmetic

namespace {

void add_evaluator_row(ForecastEvaluator& evaluator, std::vector<float> observed,
                       std::vector<float> forecast) {
  evaluator.add_row(observed, forecast);
}

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();

// Two channels, horizon 2, std (2, 0.5). The forecasts of rows 2 and 3 are
// never scored because their windows do not complete.
void add_hand_computed_rows(ForecastEvaluator& evaluator, size_t rows) {
  const std::vector<std::vector<float>> observed = {{1, 10}, {2, kMissing}, {4, 12}, {3, 11}};
  const std::vector<std::vector<float>> forecast = {
      {1.5f, 10, 2, 11}, {3, 9, 5, 8}, {0, 0, 0, 0}, {0, 0, 0, 0}};
  for (size_t t = 0; t < rows; ++t) add_evaluator_row(evaluator, observed[t], forecast[t]);
}

}  // namespace

TEST_CASE("evaluator scores complete windows per channel") {
  ForecastEvaluator evaluator(2, {2.0, 0.5}, 0);
  add_hand_computed_rows(evaluator, 4);
  const EvaluationSummary& summary = evaluator.summary();
  CHECK(summary.rows == 4);
  CHECK(summary.windows == 2);
  CHECK(summary.values == 7);

  // Channel 0 errors: -0.5, -2 (origin 0); -1, 2 (origin 1).
  const ChannelErrors& first = summary.channels[0];
  CHECK(first.count == 4);
  CHECK(first.sum_squared == doctest::Approx(9.25));
  CHECK(first.sum_absolute == doctest::Approx(5.5));
  CHECK(first.sum_squared_standardized == doctest::Approx(9.25 / 4.0));
  CHECK(first.sum_absolute_standardized == doctest::Approx(5.5 / 2.0));

  // Channel 1 errors: missing target skipped, -1 (origin 0); -3, -3 (origin 1).
  const ChannelErrors& second = summary.channels[1];
  CHECK(second.count == 3);
  CHECK(second.sum_squared == doctest::Approx(19.0));
  CHECK(second.sum_absolute == doctest::Approx(7.0));
  CHECK(second.sum_squared_standardized == doctest::Approx(76.0));
  CHECK(second.sum_absolute_standardized == doctest::Approx(14.0));

  const ChannelErrors total = summary.total();
  CHECK(total.count == 7);
  CHECK(total.sum_squared == doctest::Approx(28.25));
  CHECK(total.sum_squared_standardized == doctest::Approx(78.3125));
}

TEST_CASE("evaluator skips incomplete windows") {
  ForecastEvaluator evaluator(2, {2.0, 0.5}, 0);
  add_hand_computed_rows(evaluator, 2);
  CHECK(evaluator.summary().windows == 0);
  CHECK(evaluator.summary().values == 0);
  add_hand_computed_rows(evaluator, 0);

  ForecastEvaluator three_rows(2, {2.0, 0.5}, 0);
  add_hand_computed_rows(three_rows, 3);
  CHECK(three_rows.summary().windows == 1);
  CHECK(three_rows.summary().values == 3);
}

TEST_CASE("evaluator starts at the first origin") {
  ForecastEvaluator evaluator(2, {2.0, 0.5}, 1);
  add_hand_computed_rows(evaluator, 4);
  const EvaluationSummary& summary = evaluator.summary();
  CHECK(summary.windows == 1);
  CHECK(summary.values == 4);
  CHECK(summary.channels[0].sum_squared == doctest::Approx(5.0));
  CHECK(summary.channels[0].sum_absolute == doctest::Approx(3.0));
  CHECK(summary.channels[1].sum_squared == doctest::Approx(18.0));
  CHECK(summary.channels[1].sum_absolute == doctest::Approx(6.0));
}

TEST_CASE("evaluator ring wraps over many rows") {
  // Horizon 3, one channel, a perfect forecast of x_t = t except for step 2,
  // which is off by 1: every window adds one error of 1.
  const size_t horizon = 3;
  ForecastEvaluator evaluator(horizon, {1.0}, 0);
  const size_t rows = 50;
  std::vector<float> forecast(horizon);
  for (size_t t = 0; t < rows; ++t) {
    for (size_t r = 1; r <= horizon; ++r) {
      forecast[r - 1] = static_cast<float>(t + r) + (r == 2 ? 1.0f : 0.0f);
    }
    const std::vector<float> observed = {static_cast<float>(t)};
    evaluator.add_row(observed, forecast);
  }
  const EvaluationSummary& summary = evaluator.summary();
  CHECK(summary.windows == rows - horizon);
  CHECK(summary.values == (rows - horizon) * horizon);
  CHECK(summary.total().sum_squared == doctest::Approx(static_cast<double>(rows - horizon)));
}

TEST_CASE("evaluation report lists every channel") {
  ForecastEvaluator evaluator(2, {2.0, 0.5}, 0);
  add_hand_computed_rows(evaluator, 4);
  std::ostringstream out;
  const std::vector<std::string> names = {"load", "OT"};
  write_evaluation_report(evaluator.summary(), names, out);
  const std::string report = out.str();
  CHECK(contains(report, "2 windows (origins at data rows 0..1, horizon 2), 7 values scored"));
  CHECK(contains(report, "MSE (std)"));
  const auto lines = split_lines(report);
  REQUIRE(lines.size() == 6);
  CHECK(lines[3].starts_with("all "));
  CHECK(lines[4].starts_with("load "));
  CHECK(contains(lines[4], "2.3125"));
  CHECK(lines[5].starts_with("OT "));
  CHECK(contains(lines[5], "25.3333"));  // MSE (std) of OT: 76 / 3
}

TEST_CASE("evaluation report without windows says why") {
  ForecastEvaluator evaluator(2, {2.0, 0.5}, 0);
  add_hand_computed_rows(evaluator, 2);
  std::ostringstream out;
  write_evaluation_report(evaluator.summary(), std::vector<std::string>{"a", "b"}, out);
  CHECK(contains(out.str(), "no complete window"));
  CHECK(contains(out.str(), "at least 3 data rows"));
}

TEST_CASE("evaluation report does not wrap a huge first origin") {
  const size_t max_rows = std::numeric_limits<size_t>::max();
  for (const size_t first_origin : {max_rows, max_rows - 2, max_rows - 3}) {
    CAPTURE(first_origin);
    ForecastEvaluator evaluator(2, {2.0, 0.5}, first_origin);
    add_hand_computed_rows(evaluator, 1);
    std::ostringstream out;
    write_evaluation_report(evaluator.summary(), std::vector<std::string>{"a", "b"}, out);
    CHECK(contains(out.str(), "1 data row,"));
    if (first_origin == max_rows - 3) {
      CHECK(contains(out.str(), "at least 18446744073709551615 data rows"));
    } else {
      CHECK(contains(out.str(), "more than 18446744073709551615 data rows"));
    }
  }
}

// ---------------------------------------------------------------------------
// Reports

TEST_CASE("byte sizes use binary units") {
  CHECK(format_byte_size(0) == "0 B");
  CHECK(format_byte_size(812) == "812 B");
  CHECK(format_byte_size(1024) == "1.0 KiB");
  CHECK(format_byte_size(27712) == "27.1 KiB");
  CHECK(format_byte_size(1536ull * 1024) == "1.5 MiB");
  CHECK(format_byte_size(3ull << 30) == "3.0 GiB");
}

TEST_CASE("model info report lists channels") {
  ModelInfo info;
  info.spec_version = "infomamba-1";
  info.producer = "test";
  info.input_kind = "continuous";
  info.output_kind = "forecast";
  info.channels = 2;
  info.channel_names = {"HUFL", "OT"};
  info.mean = {7.9377, 17.1283};
  info.std = {5.8127, 9.1765};
  info.horizon = 96;
  info.level_alpha = 0.02;
  info.parameter_count = 12345;
  info.state_bytes_per_stream = 27712;

  std::ostringstream out;
  write_model_info(info, out);
  const std::string report = out.str();
  CHECK(contains(report, "infomamba-1"));
  CHECK(contains(report, "horizon (H):       96"));
  CHECK(contains(report, "level_alpha:       0.02"));
  CHECK(contains(report, "27712 bytes (27.1 KiB)"));
  CHECK(contains(report, "12345"));

  const auto lines = split_lines(report);
  bool found_ot = false;
  for (const std::string& line : lines) {
    if (contains(line, " OT ")) {
      found_ot = true;
      CHECK(contains(line, "17.1283"));
      CHECK(contains(line, "9.1765"));
    }
  }
  CHECK(found_ot);
}

TEST_CASE("model info report escapes file strings") {
  ModelInfo info;
  info.spec_version = "v\x1b[2J";
  info.producer = "p\xFF\n";
  info.channels = 1;
  info.channel_names = {"c\rh"};
  info.mean = {1.0};
  info.std = {2.0};
  std::ostringstream out;
  write_model_info(info, out);
  const std::string report = out.str();
  CHECK(contains(report, "v\\x1b[2J"));
  CHECK(contains(report, "p\\xff\\x0a"));
  CHECK(contains(report, "c\\x0dh"));
  CHECK(report.find('\x1b') == std::string::npos);
  CHECK(report.find('\r') == std::string::npos);
}

TEST_CASE("convert report gives sizes and counts") {
  infomamba::convert::ConvertReport report;
  report.parameter_count = 1000;
  report.file_bytes = 5000;
  report.state_bytes_per_stream = 2048;
  report.tensor_count = 12;
  report.node_count = 9;
  std::ostringstream out;
  write_convert_report(report, "model.imb", out);
  const std::string text = out.str();
  CHECK(contains(text, "wrote 'model.imb'"));
  CHECK(contains(text, "5000 bytes (4.9 KiB)"));
  CHECK(contains(text, "2048 bytes (2.0 KiB)"));
  CHECK(contains(text, "tensors:           12"));
  CHECK(contains(text, "graph nodes:       9"));
}

// ---------------------------------------------------------------------------
// Real models: the fixture checkpoints, converted and streamed

namespace {

// A folder under the system temp directory, removed with its contents.
class TempFolder {
 public:
  TempFolder() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("infomamba_test_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code error;
    fs::remove_all(path_, error);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Returns every fixture folder that contains a checkpoint, in name order.
std::vector<fs::path> fixture_checkpoints() {
  std::vector<fs::path> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(IMB_FIXTURE_DIR, error)) {
    if (fs::exists(entry.path() / "config.json")) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Returns a CSV with a timestamp column, then the model channels in reverse
// order, with `rows` rows of smooth values around the training means. The
// cell of channel 0 in row 3 is left empty.
std::string make_channel_csv(const ModelInfo& info, size_t rows) {
  std::string csv = "timestamp";
  for (size_t c = info.channels; c-- > 0;) csv += "," + info.channel_names[c];
  csv += "\n";
  for (size_t t = 0; t < rows; ++t) {
    csv += 't';
    csv += std::to_string(t);
    for (size_t c = info.channels; c-- > 0;) {
      csv += ",";
      if (t == 3 && c == 0) continue;
      const double value =
          info.mean[c] + info.std[c] * std::sin(0.3 * static_cast<double>(t) + static_cast<double>(c));
      std::string cell;
      append_float(cell, static_cast<float>(value));
      csv += cell;
    }
    csv += "\n";
  }
  return csv;
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("fixture forecast matches direct session steps") {
  const auto checkpoints = fixture_checkpoints();
  if (checkpoints.empty()) {
    MESSAGE("skipped: no fixture checkpoint under " IMB_FIXTURE_DIR);
    return;
  }
  for (const fs::path& checkpoint : checkpoints) {
    CAPTURE(checkpoint.string());
    TempFolder folder;
    const fs::path model_path = folder.path() / "model.imb";
    auto report = infomamba::convert::convert_checkpoint(checkpoint.string(), model_path.string());
    REQUIRE_MESSAGE(report.is_ok(), report.status().message());
    auto model = infomamba::Model::load(model_path.string());
    REQUIRE_MESSAGE(model.is_ok(), model.status().message());
    const ModelInfo& info = model.value()->info();
    if (info.output_kind != "forecast") {
      MESSAGE("skipped: fixture ", checkpoint.string(), " is not a forecasting model");
      continue;
    }

    const size_t rows = 12;
    const std::string csv = make_channel_csv(info, rows);
    auto session = infomamba::Session::create(model.value());
    REQUIRE_MESSAGE(session.is_ok(), session.status().message());
    std::istringstream in(csv);
    std::ostringstream out;
    ForecastOptions options;
    options.evaluate = true;
    auto summary = run_forecast(session.value(), in, out, options);
    REQUIRE_MESSAGE(summary.is_ok(), summary.status().message());
    CHECK(summary->rows == rows);
    CHECK(summary->filled_cells == 1);
    REQUIRE(summary->evaluation.has_value());
    const size_t expected_windows = rows > info.horizon ? rows - info.horizon : 0;
    CHECK(summary->evaluation->windows == expected_windows);

    // Replay the same observations through a second session, filling the
    // empty cell the same way, and compare every printed number exactly.
    auto reference = infomamba::Session::create(model.value());
    REQUIRE(reference.is_ok());
    const auto lines = split_lines(out.str());
    REQUIRE(lines.size() == rows + 1);
    CHECK(lines[0].starts_with("timestamp," + info.channel_names[0] + "@+1"));

    std::istringstream replay(csv);
    CsvReader reader(replay);
    std::vector<std::string> fields;
    REQUIRE(reader.read_record(fields).value());
    std::vector<float> observation(info.channels);
    std::vector<float> forecast(info.horizon * info.channels);
    for (size_t t = 0; t < rows; ++t) {
      REQUIRE(reader.read_record(fields).value());
      for (size_t c = 0; c < info.channels; ++c) {
        const std::string& cell = fields[info.channels - c];
        if (cell.empty()) {
          observation[c] = forecast[c];
        } else {
          REQUIRE(parse_float_cell(cell, observation[c]) == CellKind::kValue);
        }
      }
      REQUIRE(reference->step(observation, forecast).is_ok());
      std::string expected(1, 't');
      expected += std::to_string(t);
      for (const float value : forecast) {
        expected += ",";
        append_float(expected, value);
      }
      CHECK(lines[t + 1] == expected);
    }
  }
}

#ifdef IMB_CLI_BINARY

namespace {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  return quoted + "'";
}

// Runs the infomamba binary with `arguments` (already shell-quoted where
// needed) and collects its exit code, stdout and stderr. Stdin is
// `stdin_text`, or the file `stdin_file` when given; stdout goes to the file
// `stdout_file` instead of being collected when given.
CommandResult run_cli(const TempFolder& folder, const std::string& arguments,
                      const std::string& stdin_text = "", const std::string& stdin_file = "",
                      const std::string& stdout_file = "") {
  const fs::path out_path = folder.path() / "cli.stdout";
  const fs::path err_path = folder.path() / "cli.stderr";
  const fs::path in_path = folder.path() / "cli.stdin";
  {
    std::ofstream in_file(in_path, std::ios::binary);
    in_file << stdin_text;
  }
  const std::string command =
      shell_quote(IMB_CLI_BINARY) + " " + arguments + " <" +
      shell_quote(stdin_file.empty() ? in_path.string() : stdin_file) + " >" +
      shell_quote(stdout_file.empty() ? out_path.string() : stdout_file) + " 2>" +
      shell_quote(err_path.string());
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = stdout_file.empty() ? read_text_file(out_path) : std::string();
  result.err = read_text_file(err_path);
  return result;
}

}  // namespace

TEST_CASE("cli binary runs convert inspect and forecast on fixtures") {
  const auto checkpoints = fixture_checkpoints();
  if (checkpoints.empty()) {
    MESSAGE("skipped: no fixture checkpoint under " IMB_FIXTURE_DIR);
    return;
  }
  for (const fs::path& checkpoint : checkpoints) {
    CAPTURE(checkpoint.string());
    TempFolder folder;
    const std::string model_path = (folder.path() / "model.imb").string();

    const CommandResult converted =
        run_cli(folder, "convert " + shell_quote(checkpoint.string()) + " -o " + shell_quote(model_path));
    REQUIRE_MESSAGE(converted.exit_code == 0, converted.err);
    CHECK(contains(converted.out, "parameters:"));
    CHECK(contains(converted.out, "file size:"));

    const CommandResult inspected = run_cli(folder, "inspect " + shell_quote(model_path));
    REQUIRE_MESSAGE(inspected.exit_code == 0, inspected.err);
    CHECK(contains(inspected.out, "spec version:"));
    CHECK(contains(inspected.out, "tensors:"));
    CHECK(contains(inspected.out, "graph:"));

    auto model = infomamba::Model::load(model_path);
    REQUIRE(model.is_ok());
    const ModelInfo& info = model.value()->info();
    if (info.output_kind != "forecast") continue;

    const size_t rows = 10;
    const std::string csv = make_channel_csv(info, rows);
    const fs::path csv_path = folder.path() / "input.csv";
    std::ofstream(csv_path, std::ios::binary) << csv;

    // File to stdout, and stdin to stdout, give the same CSV.
    const CommandResult from_file =
        run_cli(folder, "forecast " + shell_quote(model_path) + " --input " + shell_quote(csv_path.string()));
    REQUIRE_MESSAGE(from_file.exit_code == 0, from_file.err);
    CHECK(split_lines(from_file.out).size() == rows + 1);
    CHECK(contains(from_file.err, "filled 1 missing cell with one-step forecasts"));
    const CommandResult from_stdin =
        run_cli(folder, "forecast " + shell_quote(model_path) + " --input - --evaluate", csv);
    REQUIRE_MESSAGE(from_stdin.exit_code == 0, from_stdin.err);
    CHECK(from_stdin.out == from_file.out);
    CHECK(contains(from_stdin.err, "evaluation:"));

    // A bad cell stops the run with exit code 1, keeping the rows before it.
    std::string bad_csv = csv;
    const size_t row_five = bad_csv.find("\nt5,");
    REQUIRE(row_five != std::string::npos);
    bad_csv.insert(row_five + 4, "abc");
    const fs::path bad_path = folder.path() / "bad.csv";
    std::ofstream(bad_path, std::ios::binary) << bad_csv;
    const fs::path output_path = folder.path() / "partial.csv";
    const CommandResult failed =
        run_cli(folder, "forecast " + shell_quote(model_path) + " --input " + shell_quote(bad_path.string()) +
                            " --output " + shell_quote(output_path.string()));
    CHECK(failed.exit_code == 1);
    CHECK_MESSAGE(contains(failed.err, "error: "), failed.err);
    CHECK_MESSAGE(contains(failed.err, "line 7, column"), failed.err);
    CHECK(contains(failed.err, "abc"));
    const auto partial = split_lines(read_text_file(output_path));
    CHECK(partial.size() == 6);  // header and rows t0..t4
    CHECK(failed.out.empty());

    // A missing input file is an error, not an empty forecast.
    const CommandResult missing = run_cli(
        folder, "forecast " + shell_quote(model_path) + " --input " + shell_quote((folder.path() / "none.csv").string()));
    CHECK(missing.exit_code == 1);
    CHECK(contains(missing.err, "none.csv"));
    CHECK(contains(missing.err, "No such file"));
  }
}

TEST_CASE("cli binary guards files and stdout") {
  const auto checkpoints = fixture_checkpoints();
  if (checkpoints.empty()) {
    MESSAGE("skipped: no fixture checkpoint under " IMB_FIXTURE_DIR);
    return;
  }
  TempFolder folder;
  const fs::path model_path = folder.path() / "model.imb";
  const std::string model = shell_quote(model_path.string());
  const CommandResult converted =
      run_cli(folder, "convert " + shell_quote(checkpoints.front().string()) + " -o " + model);
  REQUIRE_MESSAGE(converted.exit_code == 0, converted.err);
  auto loaded = infomamba::Model::load(model_path.string());
  REQUIRE(loaded.is_ok());
  const ModelInfo& info = loaded.value()->info();
  if (info.output_kind != "forecast") return;
  const std::string model_bytes = read_text_file(model_path);

  const fs::path csv_path = folder.path() / "input.csv";
  const std::string csv = make_channel_csv(info, 15);
  std::ofstream(csv_path, std::ios::binary) << csv;
  const std::string input = shell_quote(csv_path.string());

  // The output may be neither the model nor the input, under any name.
  const CommandResult over_model = run_cli(folder, "forecast " + model + " -i " + input + " -o " + model);
  CHECK(over_model.exit_code == 1);
  CHECK_MESSAGE(contains(over_model.err, "is the model file"), over_model.err);
  CHECK(read_text_file(model_path) == model_bytes);
  const fs::path model_link = folder.path() / "link.imb";
  fs::create_symlink(model_path, model_link);
  const CommandResult over_link = run_cli(
      folder, "forecast " + model + " -i " + input + " -o " + shell_quote(model_link.string()));
  CHECK(over_link.exit_code == 1);
  CHECK(read_text_file(model_path) == model_bytes);

  const CommandResult over_input = run_cli(folder, "forecast " + model + " -i " + input + " -o " + input);
  CHECK(over_input.exit_code == 1);
  CHECK_MESSAGE(contains(over_input.err, "is the input"), over_input.err);
  CHECK(read_text_file(csv_path) == csv);
  const CommandResult over_stdin =
      run_cli(folder, "forecast " + model + " -i - -o " + input, "", csv_path.string());
  CHECK(over_stdin.exit_code == 1);
  CHECK_MESSAGE(contains(over_stdin.err, "is the input stdin"), over_stdin.err);
  CHECK(read_text_file(csv_path) == csv);

  // Failed writes to stdout or to the output file are errors.
  const CommandResult inspect_full = run_cli(folder, "inspect " + model, "", "", "/dev/full");
  CHECK(inspect_full.exit_code == 1);
  CHECK_MESSAGE(contains(inspect_full.err, "error: writing standard output failed"), inspect_full.err);
  const CommandResult convert_full = run_cli(
      folder, "convert " + shell_quote(checkpoints.front().string()) + " -o " +
                  shell_quote((folder.path() / "again.imb").string()),
              "", "", "/dev/full");
  CHECK(convert_full.exit_code == 1);
  CHECK(contains(convert_full.err, "error: writing standard output failed"));
  const CommandResult forecast_full =
      run_cli(folder, "forecast " + model + " -i " + input + " -o /dev/full");
  CHECK(forecast_full.exit_code == 1);
  CHECK_MESSAGE(contains(forecast_full.err,
                         "writing output file '/dev/full' failed after 15 forecast rows were "
                         "produced"),
                forecast_full.err);
  CHECK_FALSE(contains(forecast_full.err, "rows written"));

  // Row indices that leave no window to score are rejected without wrapping.
  const std::string forecast = "forecast " + model + " -i " + input + " --evaluate-from ";
  const CommandResult largest = run_cli(folder, forecast + "18446744073709551615");
  CHECK(largest.exit_code == 1);
  CHECK_MESSAGE(contains(largest.err, "leaves no window to score"), largest.err);
  const CommandResult too_large = run_cli(folder, forecast + "18446744073709551616");
  CHECK(too_large.exit_code == 2);
  CHECK(contains(too_large.err, "is too large"));
  const CommandResult late = run_cli(folder, forecast + "100");
  CHECK(late.exit_code == 0);
  CHECK_MESSAGE(contains(late.err, "scoring needs at least " + std::to_string(100 + info.horizon + 1)),
                late.err);
  CHECK(contains(late.err, "each " + count_noun(info.horizon, "step") + " x " +
                               count_noun(info.channels, "channel")));
}

TEST_CASE("cli binary prints library warnings once") {
  const auto checkpoints = fixture_checkpoints();
  if (checkpoints.empty()) {
    MESSAGE("skipped: no fixture checkpoint under " IMB_FIXTURE_DIR);
    return;
  }
  TempFolder folder;
  const fs::path checkpoint = folder.path() / "checkpoint";
  fs::copy(checkpoints.front(), checkpoint);
  std::string config = read_text_file(checkpoint / "config.json");
  const size_t brace = config.find('{');
  REQUIRE(brace != std::string::npos);
  config.insert(brace + 1, "\"no_such_key\": 1, ");
  std::ofstream(checkpoint / "config.json", std::ios::binary | std::ios::trunc) << config;

  const CommandResult converted =
      run_cli(folder, "convert " + shell_quote(checkpoint.string()) + " -o " +
                          shell_quote((folder.path() / "model.imb").string()));
  REQUIRE_MESSAGE(converted.exit_code == 0, converted.err);
  const size_t first = converted.err.find("no_such_key");
  REQUIRE_MESSAGE(first != std::string::npos, converted.err);
  CHECK_MESSAGE(converted.err.find("no_such_key", first + 1) == std::string::npos, converted.err);
  CHECK(converted.err.starts_with("warning: "));
}

TEST_CASE("cli binary names unknown commands and empty paths") {
  TempFolder folder;
  const CommandResult unknown = run_cli(folder, "frobnicate");
  CHECK(unknown.exit_code == 2);
  CHECK_MESSAGE(contains(unknown.err, "unknown subcommand 'frobnicate'"), unknown.err);
  const CommandResult bogus = run_cli(folder, "--bogus");
  CHECK(bogus.exit_code == 2);
  CHECK_MESSAGE(contains(bogus.err, "unknown option '--bogus'"), bogus.err);
  const CommandResult none = run_cli(folder, "");
  CHECK(none.exit_code == 2);
  CHECK(contains(none.err, "a subcommand is required"));
  const CommandResult help = run_cli(folder, "help forecast");
  CHECK(help.exit_code == 0);
  CHECK(contains(help.out, "--evaluate-from"));
  CHECK(contains(help.out, "16 MiB"));

  for (const std::string& arguments :
       {std::string("convert x -o ''"), std::string("forecast m.imb -i x.csv -o ''"),
        std::string("forecast m.imb -i ''"), std::string("inspect ''")}) {
    CAPTURE(arguments);
    const CommandResult empty = run_cli(folder, arguments);
    CHECK(empty.exit_code == 2);
    CHECK_MESSAGE(contains(empty.err, " is empty; give "), empty.err);
  }
  CHECK(contains(run_cli(folder, "convert x -o ''").err, "error: --output is empty; give a file path"));
}

TEST_CASE("cli binary reports usage errors with exit code 2") {
  TempFolder folder;
  CHECK(run_cli(folder, "--no-such-flag").exit_code == 2);
  CHECK(run_cli(folder, "").exit_code == 2);
  CHECK(run_cli(folder, "forecast").exit_code == 2);
  CHECK(run_cli(folder, "forecast model.imb --input x.csv --evaluate-from -1").exit_code == 2);
  const CommandResult help = run_cli(folder, "forecast --help");
  CHECK(help.exit_code == 0);
  CHECK(contains(help.out, "--evaluate-from"));
}

#endif  // IMB_CLI_BINARY
