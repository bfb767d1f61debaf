// Status and Result: how every fallible call in the library reports failure.
//
// The library throws no exceptions across its API. A call that can fail returns
// a Status, or a Result<T> that contains either a value or a Status.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace infomamba {

// Error classes. The numeric values are part of the C API (imb_status).
enum class StatusCode : int32_t {
  kOk = 0,
  kInvalidArgument = 1,  // a caller-supplied value is out of range
  kNotFound = 2,         // a file, tensor, column or key is missing
  kIoError = 3,          // open, read, write, mmap or rename failed
  kInvalidModel = 4,     // a model file failed verification
  kInvalidCheckpoint = 5,  // a checkpoint or its config does not match the model definition
  kUnsupported = 6,      // valid input that this build cannot execute
  kOutOfMemory = 7,
  kInternal = 8,
};

// Returns a short lowercase name for `code`, such as "invalid model file".
inline const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kInvalidModel: return "invalid model file";
    case StatusCode::kInvalidCheckpoint: return "invalid checkpoint";
    case StatusCode::kUnsupported: return "unsupported";
    case StatusCode::kOutOfMemory: return "out of memory";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown status";
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with context, for example the file path being read.
  Status with_context(const std::string& context) const {
    if (is_ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : storage_(std::move(status)) {}  // NOLINT: implicit by design

  bool is_ok() const { return std::holds_alternative<T>(storage_); }
  explicit operator bool() const { return is_ok(); }

  // Returns the error. Calling it on a successful result returns an OK status.
  Status status() const { return is_ok() ? Status::ok() : std::get<Status>(storage_); }

  T& value() & { return std::get<T>(storage_); }
  const T& value() const& { return std::get<T>(storage_); }
  T&& value() && { return std::get<T>(std::move(storage_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> storage_;
};

}  // namespace infomamba

// Returns the status from the enclosing function when `expr` is not OK.
#define IMB_RETURN_IF_ERROR(expr)                 \
  do {                                            \
    ::infomamba::Status imb_status_tmp_ = (expr); \
    if (!imb_status_tmp_.is_ok()) return imb_status_tmp_; \
  } while (0)

#define IMB_CONCAT_INNER_(a, b) a##b
#define IMB_CONCAT_(a, b) IMB_CONCAT_INNER_(a, b)

// Evaluates a Result-returning `expr`, returns its status on failure, else moves
// the value into `lhs` (which may be a declaration).
#define IMB_ASSIGN_OR_RETURN(lhs, expr) \
  IMB_ASSIGN_OR_RETURN_IMPL_(IMB_CONCAT_(imb_result_, __LINE__), lhs, expr)
#define IMB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.is_ok()) return tmp.status();           \
  lhs = std::move(tmp).value()
