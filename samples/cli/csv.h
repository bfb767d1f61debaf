// Streaming CSV reading and writing for the command-line front end.
//
// The reader follows RFC 4180: fields separated by commas, records ended by LF
// or CRLF, a field in double quotes may contain commas, line breaks and doubled
// quotes (""). It reads one record at a time from an std::istream and stops
// at the record's line feed, so on a live pipe it does not wait for the next
// line.
#pragma once

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "infomamba/status.h"

namespace infomamba::cli {

// Maximum length of one CSV record in bytes, line breaks inside quoted fields
// included. A longer record is rejected before it is read into memory.
constexpr size_t kMaxRecordBytes = size_t{16} << 20;  // 16 MiB

class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}

  // Reads the next record into `fields`, reusing its strings. Returns false at
  // the end of the input. Empty lines (no characters, or only the CR of a
  // CRLF) are skipped, as pandas.read_csv and csv.DictReader do, so a missing
  // value in a one-column file must be written as "". A UTF-8 byte order
  // mark before the first record is dropped.
  //
  // Errors (kInvalidArgument): a quoted field still open at the end of the
  // input, or a character other than a comma or line break after a closing
  // quote, or a record longer than kMaxRecordBytes. A double quote inside an
  // unquoted field is kept as a literal character. kOutOfMemory when the
  // record does not fit in memory, kIoError when the stream fails for any
  // other reason than its end.
  Result<bool> read_record(std::vector<std::string>& fields);

  // Line number (1 = first line) on which the last record returned started.
  // Quoted line breaks and skipped empty lines count as lines.
  size_t record_line() const { return record_line_; }

 private:
  Result<bool> read_record_unchecked(std::vector<std::string>& fields);
  // Reads one line without its LF into line_. Returns false at the end of
  // the input, or when the record would exceed kMaxRecordBytes (line_too_long_).
  bool read_line();

  std::istream& in_;
  std::string line_;
  size_t record_bytes_ = 0;  // bytes of the current record read so far
  bool line_too_long_ = false;
  size_t lines_read_ = 0;
  size_t record_line_ = 0;
  bool at_start_ = true;
};

// Appends `field` to `out`, in double quotes (inner quotes doubled) when it
// contains a comma, a double quote, CR or LF.
void append_csv_field(std::string& out, std::string_view field);

// Appends the shortest decimal form of `value` that reads back as the same
// float (std::to_chars).
void append_float(std::string& out, float value);

// Returns `text` made safe to print: control characters, backslashes and bytes
// that are not valid UTF-8 become \xNN (backslash as \\), valid UTF-8 is kept.
// A text longer than `max_bytes` is cut at a character boundary and
// "... (N bytes)" is appended, N being the full length.
std::string escape_for_message(std::string_view text, size_t max_bytes = 200);

// Returns `text` with control characters and bytes that are not valid UTF-8
// written as \xNN, as escape_for_message() does, but backslashes kept, so
// that a message escaped once passes unchanged. Cut as escape_for_message().
std::string sanitize_for_terminal(std::string_view text, size_t max_bytes);

// Returns `value` escaped as escape_for_message() does, with double quotes
// escaped too (\"), in double quotes. A value longer than 64 bytes is cut and
// followed by "... (N bytes)".
std::string quote_for_message(std::string_view value);

// Returns `path` in single quotes for a message, escaped as
// escape_for_message() does.
std::string quote_path(std::string_view path);

// Returns "1 step", "2 steps": the count and the noun, with an s unless the
// count is 1.
std::string count_noun(size_t count, std::string_view noun);

// Classification of one cell of a numeric column.
enum class CellKind { kValue, kEmpty, kInvalid, kNonFinite, kOutOfRange };

// Parses a decimal number (optional sign, digits, point, exponent) into a
// float. Spaces and tabs around it are ignored, and a cell of only spaces and
// tabs is kEmpty. NaN and infinities are kNonFinite, magnitudes above the
// float range kOutOfRange, anything else that is not a whole number token
// (for example "abc", "1.5x", "0x10") kInvalid. Underflow rounds to zero or a
// subnormal and is accepted.
CellKind parse_float_cell(std::string_view cell, float& value);

}  // namespace infomamba::cli
