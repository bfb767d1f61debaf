#include "csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <system_error>

namespace infomamba::cli {
namespace {

constexpr std::string_view kUtf8ByteOrderMark = "\xEF\xBB\xBF";

enum class FieldState { kStart, kUnquoted, kQuoted, kQuoteInQuoted };

}  // namespace

bool CsvReader::read_line() {
  if (!std::getline(in_, line_)) return false;
  ++lines_read_;
  if (at_start_) {
    at_start_ = false;
    if (std::string_view(line_).starts_with(kUtf8ByteOrderMark)) {
      line_.erase(0, kUtf8ByteOrderMark.size());
    }
  }
  return true;
}

Result<bool> CsvReader::read_record(std::vector<std::string>& fields) {
  // Skip lines that are empty, or only a CR when the file has CRLF line ends.
  while (true) {
    if (!read_line()) {
      if (in_.bad()) {
        return Status(StatusCode::kIoError,
                      "reading line " + std::to_string(lines_read_ + 1) + " failed");
      }
      return false;
    }
    if (!line_.empty() && line_ != "\r") break;
  }
  record_line_ = lines_read_;

  size_t field_count = 0;
  auto start_field = [&]() -> std::string& {
    if (field_count == fields.size()) fields.emplace_back();
    std::string& field = fields[field_count++];
    field.clear();
    return field;
  };

  std::string* field = &start_field();
  FieldState state = FieldState::kStart;
  while (true) {
    // A CR before the LF belongs to the line break, unless a quoted field is
    // still open at the end of the line, where it is part of the field.
    const bool ends_with_cr = !line_.empty() && line_.back() == '\r';
    const size_t length = ends_with_cr ? line_.size() - 1 : line_.size();

    for (size_t i = 0; i < length; ++i) {
      const char c = line_[i];
      switch (state) {
        case FieldState::kStart:
          if (c == '"') {
            state = FieldState::kQuoted;
          } else if (c == ',') {
            field = &start_field();
          } else {
            field->push_back(c);
            state = FieldState::kUnquoted;
          }
          break;
        case FieldState::kUnquoted:
          if (c == ',') {
            field = &start_field();
            state = FieldState::kStart;
          } else {
            field->push_back(c);
          }
          break;
        case FieldState::kQuoted:
          if (c == '"') {
            state = FieldState::kQuoteInQuoted;
          } else {
            field->push_back(c);
          }
          break;
        case FieldState::kQuoteInQuoted:
          if (c == '"') {
            field->push_back('"');
            state = FieldState::kQuoted;
          } else if (c == ',') {
            field = &start_field();
            state = FieldState::kStart;
          } else {
            return Status(StatusCode::kInvalidArgument,
                          "line " + std::to_string(lines_read_) + ", field " +
                              std::to_string(field_count) + ": character " +
                              quote_for_message(std::string_view(&c, 1)) +
                              " after the closing quote, expected a comma or a line break "
                              "(a double quote inside a quoted field must be doubled)");
          }
          break;
      }
    }

    if (state != FieldState::kQuoted) break;

    // The quoted field continues on the next line.
    field->append(ends_with_cr ? "\r\n" : "\n");
    if (!read_line()) {
      if (in_.bad()) {
        return Status(StatusCode::kIoError,
                      "reading line " + std::to_string(lines_read_ + 1) + " failed");
      }
      return Status(StatusCode::kInvalidArgument,
                    "line " + std::to_string(record_line_) + ", field " +
                        std::to_string(field_count) +
                        ": quoted field not closed before the end of the input");
    }
  }

  fields.resize(field_count);
  return true;
}

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(field);
    return;
  }
  out.push_back('"');
  for (const char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_float(std::string& out, float value) {
  // The shortest form of a float takes at most 15 characters ("-1.17549435e-38").
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

std::string quote_for_message(std::string_view value) {
  constexpr size_t kMaxShown = 64;
  constexpr char kHexDigits[] = "0123456789abcdef";
  std::string quoted = "\"";
  for (size_t i = 0; i < value.size() && i < kMaxShown; ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (byte == '"' || byte == '\\') {
      quoted.push_back('\\');
      quoted.push_back(static_cast<char>(byte));
    } else if (byte < 0x20 || byte == 0x7f) {
      quoted.append("\\x");
      quoted.push_back(kHexDigits[byte >> 4]);
      quoted.push_back(kHexDigits[byte & 0xf]);
    } else {
      quoted.push_back(static_cast<char>(byte));
    }
  }
  quoted.push_back('"');
  if (value.size() > kMaxShown) quoted.append("...");
  return quoted;
}

CellKind parse_float_cell(std::string_view cell, float& value) {
  const size_t first = cell.find_first_not_of(" \t");
  if (first == std::string_view::npos) return CellKind::kEmpty;
  const size_t last = cell.find_last_not_of(" \t");
  std::string_view token = cell.substr(first, last - first + 1);

  // std::from_chars rejects a leading '+', which spreadsheets sometimes write.
  if (token.size() > 1 && token[0] == '+' && token[1] != '-' && token[1] != '+') {
    token.remove_prefix(1);
  }

  const char* begin = token.data();
  const char* end = token.data() + token.size();
  const std::from_chars_result result = std::from_chars(begin, end, value);
  if (result.ec == std::errc::invalid_argument || result.ptr != end) return CellKind::kInvalid;

  if (result.ec == std::errc::result_out_of_range) {
    // Overflow and underflow both land here. strtod distinguishes them
    // because it returns HUGE_VAL on overflow and a tiny or zero value on underflow.
    const std::string copy(token);
    const double wide = std::strtod(copy.c_str(), nullptr);
    if (!(std::fabs(wide) <= static_cast<double>(std::numeric_limits<float>::max()))) {
      return CellKind::kOutOfRange;
    }
    value = static_cast<float>(wide);
    return CellKind::kValue;
  }

  if (!std::isfinite(value)) return CellKind::kNonFinite;
  return CellKind::kValue;
}

}  // namespace infomamba::cli
