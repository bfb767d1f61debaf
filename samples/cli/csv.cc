#include "csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <new>
#include <streambuf>
#include <system_error>

namespace infomamba::cli {
namespace {

constexpr std::string_view kUtf8ByteOrderMark = "\xEF\xBB\xBF";

enum class FieldState { kStart, kUnquoted, kQuoted, kQuoteInQuoted };

}  // namespace

bool CsvReader::read_line() {
  line_.clear();
  line_too_long_ = false;
  if (!in_.good()) return false;

  // The stream buffer is read one character at a time, so that no character
  // past the LF is consumed and the length is checked before it grows.
  std::streambuf* buffer = in_.rdbuf();
  bool any_character = false;
  while (true) {
    const int c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in_.setstate(std::ios::eofbit);
      if (!any_character) return false;
      break;
    }
    any_character = true;
    if (c == '\n') break;
    if (record_bytes_ + line_.size() >= kMaxRecordBytes) {
      line_too_long_ = true;
      return false;
    }
    line_.push_back(static_cast<char>(c));
  }
  record_bytes_ += line_.size() + 1;

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
  try {
    return read_record_unchecked(fields);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory,
                  "out of memory reading line " + std::to_string(lines_read_ + 1));
  } catch (const std::exception& error) {
    return Status(StatusCode::kIoError, "reading line " + std::to_string(lines_read_ + 1) +
                                            " failed: " + escape_for_message(error.what()));
  }
}

namespace {

Status record_too_long(size_t line, bool in_quoted_field) {
  std::string message = "line " + std::to_string(line) + ": record longer than " +
                        std::to_string(kMaxRecordBytes) +
                        " bytes (16 MiB), the maximum record length";
  if (in_quoted_field) {
    message += "; a quoted field is still open, check that every opening quote is closed";
  }
  return Status(StatusCode::kInvalidArgument, message);
}

Status read_failed(size_t line) {
  return Status(StatusCode::kIoError, "reading line " + std::to_string(line) + " failed");
}

}  // namespace

Result<bool> CsvReader::read_record_unchecked(std::vector<std::string>& fields) {
  // Skip lines that are empty, or only a CR when the file has CRLF line ends.
  while (true) {
    record_bytes_ = 0;
    if (!read_line()) {
      if (line_too_long_) return record_too_long(lines_read_ + 1, false);
      if (in_.bad()) return read_failed(lines_read_ + 1);
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
      if (line_too_long_) return record_too_long(record_line_, true);
      if (in_.bad()) return read_failed(lines_read_ + 1);
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

namespace {

// Returns the length of the valid UTF-8 sequence at the start of `text`, or 0
// when it does not start with one. Overlong forms, surrogates and code points
// above U+10FFFF are invalid.
size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

void append_hex_byte(std::string& out, unsigned char byte) {
  constexpr char kHexDigits[] = "0123456789abcdef";
  out.append("\\x");
  out.push_back(kHexDigits[byte >> 4]);
  out.push_back(kHexDigits[byte & 0xf]);
}

// Escapes at most `max_bytes` bytes of `text`, cutting at a character
// boundary. Sets `cut` when part of the text was left out.
std::string escape_text(std::string_view text, size_t max_bytes, bool escape_double_quote,
                        bool& cut, bool escape_backslash = true) {
  std::string escaped;
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const size_t sequence = byte >= 0x80 ? utf8_sequence_length(text.substr(i)) : 1;
    const size_t consumed = sequence == 0 ? 1 : sequence;
    if (i + consumed > max_bytes) break;
    if ((byte == '\\' && escape_backslash) || (byte == '"' && escape_double_quote)) {
      escaped.push_back('\\');
      escaped.push_back(static_cast<char>(byte));
    } else if (byte < 0x20 || byte == 0x7f || sequence == 0) {
      append_hex_byte(escaped, byte);
    } else {
      escaped.append(text.substr(i, consumed));
    }
    i += consumed;
  }
  cut = i < text.size();
  return escaped;
}

std::string length_suffix(size_t bytes) { return "... (" + std::to_string(bytes) + " bytes)"; }

}  // namespace

std::string escape_for_message(std::string_view text, size_t max_bytes) {
  bool cut = false;
  std::string escaped = escape_text(text, max_bytes, false, cut);
  if (cut) escaped.append(length_suffix(text.size()));
  return escaped;
}

std::string sanitize_for_terminal(std::string_view text, size_t max_bytes) {
  bool cut = false;
  std::string sanitized = escape_text(text, max_bytes, false, cut, false);
  if (cut) sanitized.append(length_suffix(text.size()));
  return sanitized;
}

std::string quote_for_message(std::string_view value) {
  constexpr size_t kMaxShown = 64;
  bool cut = false;
  std::string quoted = "\"";
  quoted.append(escape_text(value, kMaxShown, true, cut));
  quoted.push_back('"');
  if (cut) quoted.append(length_suffix(value.size()));
  return quoted;
}

std::string quote_path(std::string_view path) {
  std::string quoted = "'";
  quoted.append(escape_for_message(path, 1024));
  quoted.push_back('\'');
  return quoted;
}

std::string count_noun(size_t count, std::string_view noun) {
  std::string text = std::to_string(count) + " " + std::string(noun);
  if (count != 1) text.push_back('s');
  return text;
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
