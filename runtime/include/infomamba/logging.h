// The library's logger.
//
// Library code logs through the spdlog logger named "infomamba", never through
// spdlog's default logger (which writes to stdout). An application replaces the
// sink by registering its own logger under that name before the first log call:
//
//   spdlog::register_logger(std::make_shared<spdlog::logger>("infomamba", my_sink));
//
// Otherwise the first call creates one that writes to stderr. The compile-time
// floor is SPDLOG_ACTIVE_LEVEL (CMake option INFOMAMBA_LOG_LEVEL): calls below it
// through the IMB_LOG_* macros compile to nothing.
#pragma once

#include <memory>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace infomamba {

inline std::shared_ptr<spdlog::logger> logger() {
  static const std::shared_ptr<spdlog::logger> instance = [] {
    if (auto registered = spdlog::get("infomamba")) return registered;
    return spdlog::stderr_color_mt("infomamba");
  }();
  return instance;
}

}  // namespace infomamba

#define IMB_LOG_DEBUG(...) SPDLOG_LOGGER_DEBUG(::infomamba::logger(), __VA_ARGS__)
#define IMB_LOG_INFO(...) SPDLOG_LOGGER_INFO(::infomamba::logger(), __VA_ARGS__)
#define IMB_LOG_WARN(...) SPDLOG_LOGGER_WARN(::infomamba::logger(), __VA_ARGS__)
#define IMB_LOG_ERROR(...) SPDLOG_LOGGER_ERROR(::infomamba::logger(), __VA_ARGS__)
