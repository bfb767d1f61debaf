// Parsing of a checkpoint's config.json into CheckpointConfig.
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infomamba/converter.h"

namespace infomamba::convert {
namespace {

using Json = nlohmann::json;

// Upper bound of every integer hyperparameter. It is far above real models and
// keeps every product of two or three hyperparameters (such as Di·N) within 64 bits.
constexpr uint64_t kMaxDimension = uint64_t{1} << 20;

Status invalid(std::string message) { return Status(StatusCode::kInvalidCheckpoint, std::move(message)); }

std::string key_path(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

// A top-level key and the Hugging Face Mamba names that mean the same thing.
struct KeyAliases {
  const char* key;
  std::vector<const char*> aliases;
};

const std::vector<KeyAliases>& top_level_aliases() {
  static const std::vector<KeyAliases> kAliases = {
      {"d_model", {"hidden_size"}},
      {"n_layers", {"num_hidden_layers", "n_layer"}},
      {"d_state", {"state_size"}},
      {"d_conv", {"conv_kernel"}},
      {"dt_rank", {"time_step_rank"}},
      {"norm_eps", {"layer_norm_epsilon"}},
  };
  return kAliases;
}

std::vector<const char*> aliases_of(const char* key) {
  for (const KeyAliases& entry : top_level_aliases()) {
    if (std::string(entry.key) == key) return entry.aliases;
  }
  return {};
}

// Finds `key` in `object`, or one of its aliases when `key` is absent. Sets *found
// to nullptr when none is present and *name to the key that was used.
Status find_key(const Json& object, const char* key, const Json** found, std::string* name) {
  *found = nullptr;
  *name = key;
  if (const auto it = object.find(key); it != object.end()) *found = &*it;
  for (const char* alias : aliases_of(key)) {
    const auto it = object.find(alias);
    if (it == object.end()) continue;
    if (*found == nullptr) {
      *found = &*it;
      *name = alias;
    } else if (**found != *it) {
      return invalid("config " + *name + ": " + (*found)->dump() + ", but " + alias + " (the same setting) is " +
                     it->dump() + "; expected one value");
    }
  }
  return Status::ok();
}

Status missing(const std::string& path) { return invalid("config " + path + ": missing key"); }

// Reads an integer in [minimum, kMaxDimension].
Status parse_count(const Json& value, const std::string& path, uint64_t minimum, size_t* out) {
  bool ok = false;
  uint64_t parsed = 0;
  if (value.is_number_unsigned()) {
    parsed = value.get<uint64_t>();
    ok = true;
  } else if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    parsed = static_cast<uint64_t>(value.get<int64_t>());
    ok = true;
  }
  if (!ok || parsed < minimum || parsed > kMaxDimension) {
    return invalid("config " + path + ": " + value.dump() + ", expected an integer in [" + std::to_string(minimum) +
                   ", " + std::to_string(kMaxDimension) + "]");
  }
  *out = static_cast<size_t>(parsed);
  return Status::ok();
}

Status parse_number(const Json& value, const std::string& path, double* out) {
  if (!value.is_number()) return invalid("config " + path + ": " + value.dump() + ", expected a number");
  *out = value.get<double>();
  if (!std::isfinite(*out)) return invalid("config " + path + ": " + value.dump() + ", expected a finite number");
  return Status::ok();
}

Status parse_positive_number(const Json& value, const std::string& path, double* out) {
  IMB_RETURN_IF_ERROR(parse_number(value, path, out));
  if (!(*out > 0.0)) return invalid("config " + path + ": " + value.dump() + ", expected a positive number");
  return Status::ok();
}

// Reads a required top-level count, accepting its Hugging Face alias.
Status read_required_count(const Json& object, const char* key, uint64_t minimum, size_t* out) {
  const Json* value = nullptr;
  std::string name;
  IMB_RETURN_IF_ERROR(find_key(object, key, &value, &name));
  if (value == nullptr) return missing(key);
  return parse_count(*value, name, minimum, out);
}

void record_unknown_keys(const Json& object, const std::set<std::string>& known, const std::string& where,
                         std::vector<std::string>* warnings) {
  for (const auto& [key, value] : object.items()) {
    if (known.count(key) == 0) {
      warnings->push_back("config" + (where.empty() ? std::string() : " " + where) + ": unknown key \"" + key +
                          "\" ignored");
    }
  }
}

Status parse_channel_values(const Json& object, const char* key, size_t channels, bool require_positive,
                            std::vector<double>* out) {
  const std::string path = key_path("input", key);
  const auto it = object.find(key);
  if (it == object.end()) return missing(path);
  if (!it->is_array()) return invalid("config " + path + ": " + it->dump() + ", expected an array of numbers");
  if (it->size() != channels) {
    return invalid("config " + path + ": " + std::to_string(it->size()) + " values, expected " +
                   std::to_string(channels) + " (input.channels)");
  }
  out->clear();
  for (size_t c = 0; c < channels; ++c) {
    const std::string element_path = path + "[" + std::to_string(c) + "]";
    double value = 0.0;
    if (require_positive) {
      IMB_RETURN_IF_ERROR(parse_positive_number((*it)[c], element_path, &value));
    } else {
      IMB_RETURN_IF_ERROR(parse_number((*it)[c], element_path, &value));
    }
    out->push_back(value);
  }
  return Status::ok();
}

Status parse_channel_names(const Json& object, size_t channels, std::vector<std::string>* names) {
  names->clear();
  const auto it = object.find("names");
  if (it == object.end()) {
    // Without names, channels are called x0 .. x{C-1}.
    for (size_t c = 0; c < channels; ++c) {
      std::string name = "x";
      name += std::to_string(c);
      names->push_back(std::move(name));
    }
    return Status::ok();
  }
  if (!it->is_array()) return invalid("config input.names: " + it->dump() + ", expected an array of strings");
  if (it->size() != channels) {
    return invalid("config input.names: " + std::to_string(it->size()) + " names, expected " +
                   std::to_string(channels) + " (input.channels)");
  }
  std::set<std::string> seen;
  for (size_t c = 0; c < channels; ++c) {
    const Json& name = (*it)[c];
    const std::string path = "input.names[" + std::to_string(c) + "]";
    if (!name.is_string() || name.get<std::string>().empty()) {
      return invalid("config " + path + ": " + name.dump() + ", expected a non-empty string");
    }
    if (!seen.insert(name.get<std::string>()).second) {
      return invalid("config " + path + ": " + name.dump() + " appears twice, expected unique channel names");
    }
    names->push_back(name.get<std::string>());
  }
  return Status::ok();
}

Status parse_input(const Json& input, CheckpointConfig* config) {
  if (!input.is_object()) return invalid("config input: " + input.dump() + ", expected an object");
  const auto kind = input.find("kind");
  if (kind == input.end()) return missing("input.kind");
  if (*kind == "tokens") {
    config->input_kind = "tokens";
    record_unknown_keys(input, {"kind", "vocab_size"}, "input", &config->warnings);
    const auto vocab_size = input.find("vocab_size");
    if (vocab_size == input.end()) return missing("input.vocab_size");
    return parse_count(*vocab_size, "input.vocab_size", 1, &config->vocab_size);
  }
  if (*kind != "continuous") {
    return invalid("config input.kind: " + kind->dump() + ", expected \"continuous\" or \"tokens\"");
  }
  config->input_kind = "continuous";
  record_unknown_keys(input, {"kind", "channels", "names", "mean", "std", "level_alpha"}, "input",
                      &config->warnings);

  const auto channels = input.find("channels");
  if (channels == input.end()) return missing("input.channels");
  IMB_RETURN_IF_ERROR(parse_count(*channels, "input.channels", 1, &config->channels));
  IMB_RETURN_IF_ERROR(parse_channel_names(input, config->channels, &config->channel_names));
  IMB_RETURN_IF_ERROR(parse_channel_values(input, "mean", config->channels, false, &config->mean));
  IMB_RETURN_IF_ERROR(parse_channel_values(input, "std", config->channels, true, &config->std));

  config->level_alpha = 0.0;
  if (const auto alpha = input.find("level_alpha"); alpha != input.end()) {
    IMB_RETURN_IF_ERROR(parse_number(*alpha, "input.level_alpha", &config->level_alpha));
    if (config->level_alpha < 0.0 || config->level_alpha >= 1.0) {
      return invalid("config input.level_alpha: " + alpha->dump() + ", expected a value in [0, 1)");
    }
  }
  return Status::ok();
}

Status parse_output(const Json& output, CheckpointConfig* config) {
  if (!output.is_object()) return invalid("config output: " + output.dump() + ", expected an object");
  const auto kind = output.find("kind");
  if (kind == output.end()) return missing("output.kind");
  if (*kind == "logits") {
    if (config->input_kind != "tokens") {
      return invalid("config output.kind: \"logits\" needs input.kind \"tokens\", found \"" +
                     config->input_kind + "\"");
    }
    config->output_kind = "logits";
    record_unknown_keys(output, {"kind"}, "output", &config->warnings);
    return Status::ok();
  }
  if (config->input_kind == "tokens") {
    return invalid("config output.kind: " + kind->dump() + ", expected \"logits\" for input.kind \"tokens\"");
  }
  if (*kind != "forecast") {
    return invalid("config output.kind: " + kind->dump() + ", expected \"forecast\" or \"logits\"");
  }
  config->output_kind = "forecast";
  record_unknown_keys(output, {"kind", "horizon", "channels"}, "output", &config->warnings);

  const auto horizon = output.find("horizon");
  if (horizon == output.end()) return missing("output.horizon");
  IMB_RETURN_IF_ERROR(parse_count(*horizon, "output.horizon", 1, &config->horizon));

  // The forecast covers the input channels in input order, so output.channels may
  // be omitted; when present it must agree.
  if (const auto channels = output.find("channels"); channels != output.end()) {
    size_t output_channels = 0;
    IMB_RETURN_IF_ERROR(parse_count(*channels, "output.channels", 1, &output_channels));
    if (output_channels != config->channels) {
      return invalid("config output.channels: " + std::to_string(output_channels) + ", expected " +
                     std::to_string(config->channels) + " (input.channels)");
    }
  }
  return Status::ok();
}

// A config without "input" that uses Hugging Face names describes a language
// model, which gets its own message.
bool looks_like_hugging_face(const Json& root) {
  if (root.contains("vocab_size")) return true;
  for (const KeyAliases& entry : top_level_aliases()) {
    for (const char* alias : entry.aliases) {
      if (root.contains(alias)) return true;
    }
  }
  return false;
}

Status parse_dimensions(const Json& root, CheckpointConfig* config) {
  IMB_RETURN_IF_ERROR(read_required_count(root, "d_model", 1, &config->d_model));
  IMB_RETURN_IF_ERROR(read_required_count(root, "n_layers", 1, &config->n_layers));
  IMB_RETURN_IF_ERROR(read_required_count(root, "d_state", 1, &config->d_state));
  IMB_RETURN_IF_ERROR(read_required_count(root, "d_conv", 1, &config->d_conv));
  IMB_RETURN_IF_ERROR(read_required_count(root, "expand", 1, &config->expand));
  config->d_inner = config->expand * config->d_model;

  const Json* value = nullptr;
  std::string name;
  IMB_RETURN_IF_ERROR(find_key(root, "dt_rank", &value, &name));
  if (value == nullptr || *value == "auto") {
    config->dt_rank = (config->d_model + 15) / 16;  // ceil(D / 16)
  } else {
    IMB_RETURN_IF_ERROR(parse_count(*value, name, 1, &config->dt_rank));
  }

  config->n_concepts = 0;
  if (const auto it = root.find("n_concepts"); it != root.end()) {
    IMB_RETURN_IF_ERROR(parse_count(*it, "n_concepts", 0, &config->n_concepts));
  }
  config->d_concept = 0;
  const auto d_concept = root.find("d_concept");
  if (config->n_concepts > 0) {
    if (d_concept == root.end()) return invalid("config d_concept: missing key (required when n_concepts > 0)");
    IMB_RETURN_IF_ERROR(parse_count(*d_concept, "d_concept", 1, &config->d_concept));
  } else if (d_concept != root.end()) {
    // Without concepts the value has no effect, but it must still be a count.
    size_t unused = 0;
    IMB_RETURN_IF_ERROR(parse_count(*d_concept, "d_concept", 0, &unused));
  }

  config->norm_eps = 1e-5;
  IMB_RETURN_IF_ERROR(find_key(root, "norm_eps", &value, &name));
  if (value != nullptr) IMB_RETURN_IF_ERROR(parse_positive_number(*value, name, &config->norm_eps));
  config->concept_eps = 1e-6;
  if (const auto it = root.find("concept_eps"); it != root.end()) {
    IMB_RETURN_IF_ERROR(parse_positive_number(*it, "concept_eps", &config->concept_eps));
  }
  return Status::ok();
}

std::set<std::string> known_top_level_keys() {
  std::set<std::string> known = {"architecture", "d_model", "n_layers", "d_state",     "d_conv", "expand",
                                 "dt_rank",      "n_concepts", "d_concept", "norm_eps", "concept_eps",
                                 "input",        "output",   "vocab_size"};
  for (const KeyAliases& entry : top_level_aliases()) {
    for (const char* alias : entry.aliases) known.insert(alias);
  }
  return known;
}

}  // namespace

Result<CheckpointConfig> parse_checkpoint_config(const std::string& json_text) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::parse_error& error) {
    return invalid(std::string("config is not valid JSON: ") + error.what());
  }
  if (!root.is_object()) return invalid(std::string("config is a JSON ") + root.type_name() + ", expected an object");

  CheckpointConfig config;
  config.source_json = json_text;
  record_unknown_keys(root, known_top_level_keys(), "", &config.warnings);

  config.architecture = "infomamba";
  if (const auto it = root.find("architecture"); it != root.end()) {
    if (*it != "infomamba" && *it != "mamba") {
      return invalid("config architecture: " + it->dump() + ", expected \"infomamba\" or \"mamba\"");
    }
    config.architecture = it->get<std::string>();
  }

  IMB_RETURN_IF_ERROR(parse_dimensions(root, &config));
  if (config.architecture == "mamba" && config.n_concepts > 0) {
    return invalid("config n_concepts: " + std::to_string(config.n_concepts) +
                   ", expected 0 for architecture \"mamba\" (a plain Mamba model has no concept stream)");
  }

  const auto input = root.find("input");
  if (input == root.end()) {
    // A Hugging Face Mamba config describes a language model by its top-level
    // vocab_size: token input, logits output.
    const auto vocab_size = root.find("vocab_size");
    if (looks_like_hugging_face(root) && vocab_size != root.end()) {
      config.input_kind = "tokens";
      config.output_kind = "logits";
      IMB_RETURN_IF_ERROR(parse_count(*vocab_size, "vocab_size", 1, &config.vocab_size));
      return config;
    }
    return missing("input");
  }
  IMB_RETURN_IF_ERROR(parse_input(*input, &config));

  const auto output = root.find("output");
  if (output == root.end()) return missing("output");
  IMB_RETURN_IF_ERROR(parse_output(*output, &config));
  return config;
}

}  // namespace infomamba::convert
