// C API: thin wrappers that turn Status into imb_status plus a thread-local message.
#include "infomamba/infomamba.h"

#include <new>
#include <string>

#include "infomamba/runtime.h"

struct imb_model {
  std::shared_ptr<const infomamba::Model> model;
};

struct imb_session {
  infomamba::Session session;
};

namespace {

thread_local std::string last_error;

imb_status report(const infomamba::Status& status) {
  last_error = status.is_ok() ? std::string() : status.message();
  return static_cast<imb_status>(status.code());
}

imb_status null_argument(const char* name) {
  last_error = std::string(name) + " is NULL, expected a valid pointer";
  return IMB_INVALID_ARGUMENT;
}

}  // namespace

extern "C" {

const char* imb_last_error(void) { return last_error.c_str(); }

imb_status imb_model_load(const char* path, imb_model** out_model) {
  if (path == nullptr) return null_argument("path");
  if (out_model == nullptr) return null_argument("out_model");
  *out_model = nullptr;
  auto loaded = infomamba::Model::load(path);
  if (!loaded.is_ok()) return report(loaded.status());
  auto* handle = new (std::nothrow) imb_model{std::move(loaded).value()};
  if (handle == nullptr) return report({infomamba::StatusCode::kOutOfMemory, "model handle"});
  *out_model = handle;
  return report(infomamba::Status::ok());
}

void imb_model_free(imb_model* model) { delete model; }

size_t imb_model_channels(const imb_model* model) { return model ? model->model->info().channels : 0; }

size_t imb_model_horizon(const imb_model* model) { return model ? model->model->info().horizon : 0; }

size_t imb_model_vocab_size(const imb_model* model) { return model ? model->model->info().vocab_size : 0; }

size_t imb_model_state_bytes(const imb_model* model) {
  return model ? model->model->info().state_bytes_per_stream : 0;
}

imb_status imb_session_create(imb_model* model, imb_session** out_session) {
  if (model == nullptr) return null_argument("model");
  if (out_session == nullptr) return null_argument("out_session");
  *out_session = nullptr;
  auto created = infomamba::Session::create(model->model);
  if (!created.is_ok()) return report(created.status());
  auto* handle = new (std::nothrow) imb_session{std::move(created).value()};
  if (handle == nullptr) return report({infomamba::StatusCode::kOutOfMemory, "session handle"});
  *out_session = handle;
  return report(infomamba::Status::ok());
}

void imb_session_free(imb_session* session) { delete session; }

imb_status imb_session_step(imb_session* session, const float* observation, size_t observation_len,
                            float* forecast, size_t forecast_len) {
  if (session == nullptr) return null_argument("session");
  if (observation == nullptr) return null_argument("observation");
  if (forecast == nullptr) return null_argument("forecast");
  return report(session->session.step({observation, observation_len}, {forecast, forecast_len}));
}

imb_status imb_session_run_chunk(imb_session* session, const float* observations, size_t steps,
                                 size_t observations_len, float* forecasts, size_t forecasts_len) {
  if (session == nullptr) return null_argument("session");
  if (observations == nullptr) return null_argument("observations");
  if (forecasts == nullptr && forecasts_len != 0) return null_argument("forecasts");
  return report(session->session.run_chunk({observations, observations_len}, steps,
                                           {forecasts, forecasts_len}));
}

void imb_session_reset(imb_session* session) {
  if (session != nullptr) session->session.reset();
}

size_t imb_session_snapshot_size(const imb_session* session) {
  return session ? session->session.state_snapshot_size() : 0;
}

imb_status imb_session_save_state(const imb_session* session, void* out, size_t out_len) {
  if (session == nullptr) return null_argument("session");
  if (out == nullptr) return null_argument("out");
  return report(session->session.save_state({static_cast<std::byte*>(out), out_len}));
}

imb_status imb_session_load_state(imb_session* session, const void* snapshot, size_t snapshot_len) {
  if (session == nullptr) return null_argument("session");
  if (snapshot == nullptr) return null_argument("snapshot");
  return report(session->session.load_state({static_cast<const std::byte*>(snapshot), snapshot_len}));
}

}  // extern "C"
