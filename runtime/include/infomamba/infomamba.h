/* C API of the InfoMamba streaming runtime.
 *
 * Every fallible function returns an imb_status. On failure, imb_last_error()
 * returns a message naming the value found and the value expected. The message
 * stays valid until the next call on the same thread. No function throws or
 * prints.
 *
 * Lifetimes: imb_model_free may be called while sessions of that model exist,
 * because each session keeps the model's memory alive until it is freed. A
 * session may be used by one thread at a time; a model by any number.
 */
#ifndef INFOMAMBA_INFOMAMBA_H_
#define INFOMAMBA_INFOMAMBA_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum imb_status {
  IMB_OK = 0,
  IMB_INVALID_ARGUMENT = 1,
  IMB_NOT_FOUND = 2,
  IMB_IO_ERROR = 3,
  IMB_INVALID_MODEL = 4,
  IMB_INVALID_CHECKPOINT = 5,
  IMB_UNSUPPORTED = 6,
  IMB_OUT_OF_MEMORY = 7,
  IMB_INTERNAL = 8,
} imb_status;

typedef struct imb_model imb_model;
typedef struct imb_session imb_session;

/* Returns the message of the last failed call on this thread, or "". */
const char* imb_last_error(void);

imb_status imb_model_load(const char* path, imb_model** out_model);
void imb_model_free(imb_model* model);
/* C channels of one observation. */
size_t imb_model_channels(const imb_model* model);
/* H forecast steps; a forecast has H * C floats. */
size_t imb_model_horizon(const imb_model* model);
/* V for token models, whose observation is one token id and whose output is V
 * logits; 0 for forecasting models. */
size_t imb_model_vocab_size(const imb_model* model);
size_t imb_model_state_bytes(const imb_model* model);

imb_status imb_session_create(imb_model* model, imb_session** out_session);
void imb_session_free(imb_session* session);

/* observation: C floats in original units; forecast: H * C floats out. */
imb_status imb_session_step(imb_session* session, const float* observation, size_t observation_len,
                            float* forecast, size_t forecast_len);
/* observations: steps * C floats; forecasts: steps * H * C floats, or NULL with
 * forecasts_len 0 to advance the state only. */
imb_status imb_session_run_chunk(imb_session* session, const float* observations, size_t steps,
                                 size_t observations_len, float* forecasts, size_t forecasts_len);
void imb_session_reset(imb_session* session);

size_t imb_session_snapshot_size(const imb_session* session);
imb_status imb_session_save_state(const imb_session* session, void* out, size_t out_len);
imb_status imb_session_load_state(imb_session* session, const void* snapshot, size_t snapshot_len);

#ifdef __cplusplus
}
#endif

#endif /* INFOMAMBA_INFOMAMBA_H_ */
