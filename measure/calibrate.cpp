// calibrate.cpp: map published measurements to estimates and report the errors.
#include "calibrate.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "atomic_file.h"
#include "data_paths.h"
#include "memory_fit.h"
#include "text.h"
#include "stats.h"

namespace gs {

namespace {

bool starts_with_ci(const std::string& s, const std::string& p) { return lower(s).rfind(lower(p), 0) == 0; }

// Split a CSV text into records of fields (RFC 4180: quotes, doubled quotes, newlines in quotes).
std::vector<std::pair<int, std::vector<std::string>>> parse_csv(const std::string& text, const std::string& file) {
  std::vector<std::pair<int, std::vector<std::string>>> out;
  std::vector<std::string> rec;
  std::string field;
  bool quoted = false, any = false;
  int line = 1, rec_line = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (ch == '\n') ++line;
        field += ch;
      }
      continue;
    }
    if (ch == '"') {
      quoted = true;
      any = true;
    } else if (ch == ',') {
      rec.push_back(field);
      field.clear();
      any = true;
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        rec.push_back(field);
        out.emplace_back(rec_line, rec);
      }
      rec.clear();
      field.clear();
      any = false;
      ++line;
      rec_line = line;
    } else {
      field += ch;
      any = true;
    }
  }
  if (quoted) input_error(file + ":" + std::to_string(rec_line) + ": unterminated quoted field");
  if (any || !field.empty()) {
    rec.push_back(field);
    out.emplace_back(rec_line, rec);
  }
  return out;
}

struct Aliases {
  json models, quants, engines, hardware;
};

Aliases load_aliases() {
  Aliases a;
  const std::string mp = data_path("calibration/model-aliases.json");
  const json m = read_json_file(mp);
  JsonReader r(m, mp);
  a.models = r.at("models").raw();
  a.quants = r.at("quants").raw();
  a.engines = r.at("engines").raw();
  const std::string hp = data_path("hwdb/aliases.json");
  const json h = read_json_file(hp);
  a.hardware = JsonReader(h, hp).at("aliases").raw();
  return a;
}

// "12-15" -> 13.5, "" -> 0, "189.63" -> 189.63; false when unparseable.
bool parse_rate(const std::string& s, double* v, std::vector<std::string>& notes, const char* what) {
  const std::string t = trim(s);
  *v = 0;
  if (t.empty()) return true;
  std::smatch m;
  static const std::regex range(R"(^([0-9.]+)\s*-\s*([0-9.]+)$)");
  if (std::regex_match(t, m, range)) {
    *v = (std::stod(m[1]) + std::stod(m[2])) / 2;
    notes.push_back(std::string(what) + " given as a range " + t + ": midpoint used");
    return true;
  }
  try {
    std::size_t pos = 0;
    *v = std::stod(t, &pos);
    return pos == t.size() && std::isfinite(*v) && *v >= 0;
  } catch (const std::exception&) {
    return false;
  }
}

CalCase map_row(const CalRow& r, const Aliases& al) {
  CalCase c;
  c.row = r;
  auto skip = [&](const std::string& why) {
    if (c.skip.empty()) c.skip = why;
  };
  // Model.
  const std::string mname = trim(r.model);
  if (al.models.contains(mname)) {
    c.model_id = al.models.at(mname).at("id").get<std::string>();
    if (al.models.at(mname).contains("why")) c.notes.push_back("model: " + al.models.at(mname).at("why").get<std::string>());
  } else {
    skip("model '" + mname + "' has no models/ file (calibration/model-aliases.json)");
  }
  // Quantization.
  const std::string q = trim(r.quant);
  if (q.empty()) skip("quantization not stated");
  for (const auto& e : al.quants) {
    if (!q.empty() && starts_with_ci(q, e.at("prefix").get<std::string>())) {
      c.recipe_id = e.at("recipe").get<std::string>();
      if (e.contains("why")) c.notes.push_back("quant: " + e.at("why").get<std::string>());
      break;
    }
  }
  if (!q.empty() && c.recipe_id.empty()) skip("quantization '" + q + "' has no recipe");
  // Hardware.
  const std::string hw = trim(r.hardware);
  if (al.hardware.contains(hw)) c.hw_id = al.hardware.at(hw).get<std::string>();
  else skip("hardware '" + hw + "' has no hwdb entry (hwdb/aliases.json)");
  // Engine.
  const std::string be = trim(r.backend);
  const std::string src = lower(r.source);
  const json* rule_workload = nullptr;  // the matched rule's workload for rows that state no lengths
  for (const auto& e : al.engines) {
    // optional "source_contains": the rule applies only to rows whose source cell names it
    // (an engine build the source dates, e.g. the Dec 2023 llama.cpp snapshot)
    if (e.contains("source_contains") && src.find(lower(e.at("source_contains").get<std::string>())) == std::string::npos)
      continue;
    if (starts_with_ci(be, e.at("prefix").get<std::string>())) {
      c.engine_id = e.at("engine").get<std::string>();
      c.cpu_only = e.value("cpu_only", false);
      if (e.contains("source_contains") && e.contains("why")) c.notes.push_back("engine: " + e.at("why").get<std::string>());
      if (e.contains("workload")) rule_workload = &e.at("workload");
      break;
    }
  }
  if (c.engine_id.empty()) skip("backend '" + be + "' has no engine profile");
  if (lower(be).find("-nkvo") != std::string::npos || lower(be).find("kv cache in system ram") != std::string::npos)
    c.kv_on_host = true;
  std::smatch m;
  static const std::regex ngl(R"(-ngl\s+([0-9]+))");
  if (std::regex_search(hw, m, ngl) || std::regex_search(be, m, ngl)) {
    const int n = std::stoi(m[1]);
    if (n < 99) c.gpu_layers = n;  // -ngl 99 means all
  }
  static const std::regex ub_re(R"(ubatch\s+([0-9]+))");
  if (std::regex_search(be, m, ub_re)) c.ubatch = std::stoi(m[1]);
  // Batch.
  const std::string b = lower(trim(r.batch));
  if (b == "1" || b.empty()) {
    c.batch = 1;
  } else if (std::regex_search(b, m, std::regex(R"(^([0-9]+)\s*\(aggregate\))"))) {
    c.batch = std::stoi(m[1]);
    c.single_stream = false;
  } else {
    c.single_stream = false;
    skip("batch '" + r.batch + "': concurrency not stated (max-load throughput)");
  }
  // Workload.
  const std::string w = lower(r.ctx);
  static const std::regex pp_re(R"(pp([0-9]+))"), tg_re(R"(tg_?([0-9]+))"), depth_re(R"(depth\s+([0-9]+))"),
      isl_re(R"(isl\s+([0-9]+)\s*/\s*osl\s+([0-9]+))"), ktok_re(R"(~([0-9.]+)k-token prompt)"),
      gen_re(R"(([0-9]+)-token generations)");
  bool known = false;
  if (std::regex_search(w, m, depth_re)) c.depth = std::stoll(m[1]);
  if (std::regex_search(w, m, isl_re)) {
    c.prompt = std::stoll(m[1]);
    c.gen = std::stoll(m[2]);
    c.decode_after_prompt = true;
    known = true;
  } else if (w.find("ubatch=1") != std::string::npos && std::regex_search(w, m, pp_re)) {
    c.prompt = 0;
    c.gen = std::stoll(m[1]);
    c.decode_logits = false;
    c.notes.push_back("micro-batch-1 prompt processing = decode at depth " + std::to_string(c.depth) +
                      " without the output head (a prompt's tokens have no logits but the last)");
    known = true;
  } else if (std::regex_search(w, m, ktok_re)) {
    c.prompt = static_cast<i64>(std::stod(m[1]) * 1000);
    c.decode_after_prompt = true;
    if (std::regex_search(w, m, gen_re)) c.gen = std::stoll(m[1]);
    known = true;
  } else {
    const bool has_pp = std::regex_search(w, m, pp_re);
    if (has_pp) c.prompt = std::stoll(m[1]);
    if (std::regex_search(w, m, tg_re)) {
      c.gen = std::stoll(m[1]);
      if (!has_pp) c.prompt = 0;
      known = true;
    }
    known = known || has_pp;
  }
  if (!known && rule_workload) {
    // the source's own run procedure (e.g. llama.cpp ./main with a fixed prompt and -n) where the cell is silent
    const json& wj = *rule_workload;
    c.prompt = wj.value("prompt_tokens", c.prompt);
    c.gen = wj.value("gen_tokens", c.gen);
    c.decode_after_prompt = wj.value("decode_after_prompt", c.decode_after_prompt);
    c.notes.push_back("lengths '" + r.ctx + "' not stated in the cell: " + wj.value("why", std::string("workload of the engine rule")));
  } else if (!known) {
    c.notes.push_back("lengths '" + r.ctx + "' not stated: llama-bench defaults pp512 / tg128 assumed");
  }
  // Measurements.
  if (!parse_rate(r.pp, &c.measured_pp, c.notes, "pp")) skip("pp_tok_s '" + r.pp + "' is not a number");
  if (!parse_rate(r.tg, &c.measured_tg, c.notes, "tg")) skip("tg_tok_s '" + r.tg + "' is not a number");
  if (c.measured_pp <= 0 && c.measured_tg <= 0) skip("no speed measured");
  return c;
}

// A row of the Gemma 4 schema: ids and lengths are given; each is checked here so that a bad
// row is skipped with its reason instead of failing the run.
CalCase map_direct_row(const CalRow& r) {
  CalCase c;
  c.row = r;
  c.row_id = trim(r.id);
  auto skip = [&](const std::string& why) {
    if (c.skip.empty()) c.skip = why;
  };
  auto known = [&](const char* what, const std::string& id, auto&& lookup) {
    if (trim(id).empty()) {
      skip(std::string(what) + " not stated");
      return std::string();
    }
    try {
      lookup(trim(id));
    } catch (const InputError& e) {
      skip(std::string("unknown ") + what + " '" + trim(id) + "'");
    }
    return trim(id);
  };
  c.model_id = known("model", r.model, [](const std::string& id) { (void)find_model(id); });
  c.recipe_id = known("quantization", r.quant, [](const std::string& id) { (void)find_recipe(id); });
  c.hw_id = known("device", r.hardware, [](const std::string& id) { (void)resolve_hardware(id); });
  c.engine_id = known("engine", r.engine, [](const std::string& id) { (void)resolve_engine(id); });
  if (!trim(r.kv_type).empty()) c.kv_type = known("KV type", r.kv_type, [](const std::string& id) { (void)find_kv_type(id); });
  auto count = [&](const char* what, const std::string& s, i64 lo, i64 hi, i64* out) {
    const std::string t = trim(s);
    if (t.empty()) return;
    try {
      std::size_t pos = 0;
      const long long v = std::stoll(t, &pos);
      if (pos != t.size() || v < lo || v > hi) throw std::invalid_argument(t);
      *out = v;
    } catch (const std::exception&) {
      skip(std::string(what) + " '" + t + "' is not a whole number in " + std::to_string(lo) + " .. " + std::to_string(hi));
    }
  };
  count("prompt", r.prompt, 0, 1 << 24, &c.prompt);
  count("gen", r.gen, 1, 1 << 24, &c.gen);
  count("depth", r.depth, 0, 1 << 24, &c.depth);
  const std::string from = lower(trim(r.decode_from));
  if (from == "after_prompt") c.decode_after_prompt = true;
  else if (from.empty() || from == "depth") c.decode_after_prompt = false;
  else skip("decode_from '" + r.decode_from + "': expected depth or after_prompt");
  const std::string kind = lower(trim(r.tg_kind));
  if (kind == "e2e") c.tg_end_to_end = true;
  else if (!kind.empty() && kind != "decode") skip("tg_kind '" + r.tg_kind + "': expected decode or e2e");
  if (lower(r.backend).find("-nkvo") != std::string::npos) c.kv_on_host = true;
  if (!parse_rate(r.pp, &c.measured_pp, c.notes, "pp")) skip("pp_tok_s '" + r.pp + "' is not a number");
  if (!parse_rate(r.tg, &c.measured_tg, c.notes, "tg")) skip("tg_tok_s '" + r.tg + "' is not a number");
  if (c.measured_pp <= 0 && c.measured_tg <= 0) skip("no speed measured");
  return c;
}

// Where the layers ran, for grouping errors: a CPU engine or no GPU layers -> "CPU/board".
std::string device_class(const System& s, const EngineProfile& e, const RunPlacement& pl) {
  if (e.backend == "cpu" || pl.gpu_layers == 0 || !s.has_gpu()) return "CPU/board";
  const std::string v = lower(s.gpus.empty() ? s.host.vendor : s.gpus.front().vendor);
  if (v == "nvidia") return "NVIDIA";
  if (v == "amd") return "AMD";
  if (v == "apple") return "Apple";
  if (v == "intel") return "Intel";
  return v;
}

}  // namespace

std::vector<CalRow> read_calibration_csv(const std::string& path) {
  check_input_file(path, kMaxJsonFileBytes, "calibration CSV");
  std::ifstream f(path, std::ios::binary);
  if (!f) input_error(path + ": cannot open the calibration CSV");
  std::stringstream ss;
  ss << f.rdbuf();
  const auto recs = parse_csv(ss.str(), path);
  if (recs.empty()) input_error(path + ": empty file (expected a header line)");
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < recs[0].second.size(); ++i) col[trim(recs[0].second[i])] = i;
  // Two schemas: the published-speeds one (free-text cells mapped through alias files) and the
  // Gemma 4 one (gemmasim ids and explicit lengths; calibration/README.md).
  const bool direct = col.count("engine") && col.count("prompt") && col.count("gen") && col.count("depth");
  const std::vector<std::string> need =
      direct ? std::vector<std::string>{"model", "quant", "hardware", "engine", "prompt", "gen", "depth", "pp_tok_s", "tg_tok_s", "source"}
             : std::vector<std::string>{"model", "quant", "hardware", "backend", "batch", "ctx_or_prompt", "pp_tok_s", "tg_tok_s", "source"};
  for (const auto& n : need)
    if (!col.count(n))
      input_error(path + ":1: missing column '" + n + "' (expected the columns of " +
                  (direct ? "calibration/gemma4-measured.csv" : "calibration/measured-speeds.csv") + ")");
  std::vector<CalRow> rows;
  for (std::size_t k = 1; k < recs.size(); ++k) {
    const int line = recs[k].first;  // (not a structured binding: clang 14 cannot capture those in the lambda below)
    const auto& f2 = recs[k].second;
    if (f2.size() != recs[0].second.size())
      input_error(path + ":" + std::to_string(line) + ": " + std::to_string(f2.size()) + " fields, expected " +
                  std::to_string(recs[0].second.size()));
    auto cell = [&](const char* name) { return col.count(name) ? f2[col.at(name)] : std::string(); };
    CalRow r;
    r.line = line;
    r.direct = direct;
    r.model = cell("model");
    r.quant = cell("quant");
    r.hardware = cell("hardware");
    r.backend = direct ? cell("engine_source") : cell("backend");
    r.batch = direct ? "1" : cell("batch");
    r.ctx = cell("ctx_or_prompt");
    r.pp = cell("pp_tok_s");
    r.tg = cell("tg_tok_s");
    r.source = cell("source");
    r.id = cell("id");
    r.engine = cell("engine");
    r.kv_type = cell("kv_type");
    r.prompt = cell("prompt");
    r.gen = cell("gen");
    r.depth = cell("depth");
    r.decode_from = cell("decode_from");
    r.tg_kind = cell("tg_kind");
    r.threads = cell("threads");
    r.notes = cell("notes");
    rows.push_back(r);
  }
  return rows;
}

CalCase map_calibration_row(const CalRow& r) { return r.direct ? map_direct_row(r) : map_row(r, load_aliases()); }

// The profile with the overridden throughput keys (re-parsed from its file, then put on the
// system's backend as resolve_engine_for does).
static EngineProfile engine_with(const std::string& id, const System& s, const EngineOverrides& ov) {
  auto it = ov.find(id);
  if (it == ov.end()) return resolve_engine_for(id, s);
  const EngineProfile base = resolve_engine(id);
  json j = read_json_file(base.file);
  for (const auto& [ptr, v] : it->second) j["throughput"][json::json_pointer(ptr)] = v;
  return engine_on_backend(parse_engine(j, base.file), s.backend());
}

std::vector<CalResult> run_calibration(const std::vector<CalRow>& rows, const EngineOverrides& overrides) {
  const bool any_alias = std::any_of(rows.begin(), rows.end(), [](const CalRow& r) { return !r.direct; });
  const Aliases al = any_alias ? load_aliases() : Aliases{};
  std::vector<CalResult> out;
  for (const auto& row : rows) {
    CalResult res;
    res.c = row.direct ? map_direct_row(row) : map_row(row, al);
    CalCase& c = res.c;
    if (c.skip.empty()) {
      try {
        const ModelSpec m = find_model(c.model_id);
        const QuantRecipe& q = find_recipe(c.recipe_id);
        const System s = resolve_hardware(c.hw_id);
        if (c.engine_id == "default") c.engine_id = default_engine(s, q);
        const EngineProfile e = engine_with(c.engine_id, s, overrides);
        RunPlacement pl;
        pl.kv_on_host = c.kv_on_host;
        if (c.cpu_only) {
          pl.gpu_layers = 0;
        } else if (c.gpu_layers >= 0) {
          pl.gpu_layers = c.gpu_layers;
        } else if (s.has_gpu() && e.backend != "cpu" && !s.unified()) {
          // (unified chips: one memory pool, so offloading fewer layers frees nothing: all on the GPU)
          const MemoryRules rules = load_memory_rules(e.id);
          FitOptions fo;
          fo.context_tokens = std::min<i64>(std::max<i64>(c.depth + c.prompt + c.gen, 512), m.n_ctx_max);
          fo.n_seq = c.batch;
          if (!fit(m, s, q, rules, fo).fits) {
            const int n = max_gpu_layers(m, s, q, rules, fo);
            pl.gpu_layers = std::max(n, 0);
            c.notes.push_back("does not fit on the GPU(s): --gpu-layers " + std::to_string(pl.gpu_layers) +
                              " (largest that fits)");
          }
        }
        // A run longer than the model's limit (llama.cpp pads its cache past it): the depth is
        // cut so that depth + prompt + gen fits, with a note.
        if (c.depth + c.prompt + c.gen > m.n_ctx_max && c.depth > 0) {
          const i64 cut = std::max<i64>(0, m.n_ctx_max - c.prompt - c.gen);
          c.notes.push_back("depth " + std::to_string(c.depth) + " cut to " + std::to_string(cut) +
                            " (depth + prompt + gen within the model's " + std::to_string(m.n_ctx_max) + " tokens)");
          c.depth = cut;
        }
        Workload wl;
        wl.kv_bytes_per_element = find_kv_type(c.kv_type).bytes_per_element;
        wl.kv_block_quantized = kv_type_is_block_quantized(c.kv_type);
        wl.prompt_tokens = c.prompt;
        wl.gen_tokens = c.gen;
        wl.depth_tokens = c.depth;
        wl.batch = c.batch;
        wl.ubatch_tokens = c.ubatch;
        wl.decode_after_prompt = c.decode_after_prompt;
        wl.decode_logits = c.decode_logits;
        Workload wp = wl;
        if (wp.prompt_tokens == 0) wp.prompt_tokens = 512;
        const Estimate est = estimate(prepare_ops(m, q), prepare_hardware(s, e), pl, wp);
        res.device_class = device_class(s, e, pl);
        res.gpu_layers_used = est.gpu_layers;
        res.est_pp = est.prefill_tok_per_s;
        res.est_tg = c.batch > 1 ? est.decode_tok_per_s_aggregate : est.decode_tok_per_s;
        // output tokens over the request's wall time: the prompt's prefill counts too
        if (c.tg_end_to_end && c.prompt > 0) res.est_tg = static_cast<double>(c.gen) / (est.ttft_s + static_cast<double>(c.gen) * est.tpot_s);
        res.pp_bound = bound_name(est.prefill.bound);
        res.tg_bound = bound_name(est.decode.bound);
        if (c.measured_pp > 0) res.err_pp = res.est_pp / c.measured_pp - 1;
        if (c.measured_tg > 0) res.err_tg = res.est_tg / c.measured_tg - 1;
      } catch (const InputError& e) {
        c.skip = std::string("cannot estimate: ") + e.what();
      }
    }
    out.push_back(res);
  }
  return out;
}

CalSummary summarize(const std::vector<CalResult>& res) {
  CalSummary s;
  std::vector<double> d, p, ds, ps;  // |error| and signed error
  for (const auto& r : res) {
    ++s.rows;
    if (!r.c.skip.empty()) {
      ++s.skipped;
      continue;
    }
    ++s.estimated;
    if (!r.c.single_stream) continue;
    if (r.has_tg()) {
      ds.push_back(r.err_tg);
      d.push_back(std::fabs(r.err_tg));
      if (std::fabs(r.err_tg) > 0.40) ++s.decode_over_40;
    }
    if (r.has_pp()) {
      ps.push_back(r.err_pp);
      p.push_back(std::fabs(r.err_pp));
    }
  }
  s.n_decode = static_cast<int>(d.size());
  s.n_prefill = static_cast<int>(p.size());
  s.median_abs_err_decode = median(d);
  s.median_abs_err_prefill = median(p);
  s.max_abs_err_decode = d.empty() ? 0 : *std::max_element(d.begin(), d.end());
  s.max_abs_err_prefill = p.empty() ? 0 : *std::max_element(p.begin(), p.end());
  s.p90_abs_err_decode = quantile(d, 0.9);
  s.p90_abs_err_prefill = quantile(p, 0.9);
  s.median_err_decode = median(ds);
  s.median_err_prefill = median(ps);
  return s;
}

std::vector<CalGroup> group_errors(const std::vector<CalResult>& res) {
  std::vector<CalGroup> out;
  for (const char* by : {"engine", "device_class", "model"}) {
    std::map<std::string, std::array<std::vector<double>, 2>> errs;  // key -> {decode, prefill} signed errors
    for (const auto& r : res) {
      if (!r.c.skip.empty() || !r.c.single_stream) continue;
      const std::string key = std::string(by) == "engine" ? r.c.engine_id : std::string(by) == "model" ? r.c.model_id : r.device_class;
      auto& e = errs[key];
      if (r.has_tg()) e[0].push_back(r.err_tg);
      if (r.has_pp()) e[1].push_back(r.err_pp);
    }
    for (const auto& [key, e] : errs) {
      CalGroup g;
      g.by = by;
      g.key = key;
      auto fill = [](const std::vector<double>& v, int* n, double* med_abs, double* p90, double* med) {
        std::vector<double> a;
        for (double x : v) a.push_back(std::fabs(x));
        *n = static_cast<int>(v.size());
        *med_abs = median(a);
        *p90 = quantile(a, 0.9);
        *med = median(v);
      };
      fill(e[0], &g.n_decode, &g.median_abs_err_decode, &g.p90_abs_err_decode, &g.median_err_decode);
      fill(e[1], &g.n_prefill, &g.median_abs_err_prefill, &g.p90_abs_err_prefill, &g.median_err_prefill);
      out.push_back(g);
    }
  }
  return out;
}

json calibration_to_json(const std::vector<CalResult>& res, const CalSummary& s) {
  json rows = json::array(), skipped = json::array();
  for (const auto& r : res) {
    if (!r.c.skip.empty()) {
      json k = {{"line", r.c.row.line}, {"model", r.c.row.model}, {"hardware", r.c.row.hardware}, {"reason", r.c.skip}};
      if (!r.c.row_id.empty()) k["id"] = r.c.row_id;
      skipped.push_back(k);
      continue;
    }
    json j = {{"line", r.c.row.line},
              {"model", r.c.model_id},
              {"quant", r.c.recipe_id},
              {"hardware", r.c.hw_id},
              {"engine", r.c.engine_id},
              {"prompt_tokens", r.c.prompt},
              {"gen_tokens", r.c.gen},
              {"depth_tokens", r.c.depth},
              {"batch", r.c.batch},
              {"single_stream", r.c.single_stream},
              {"gpu_layers", r.gpu_layers_used},
              {"kv_type", r.c.kv_type},
              {"device_class", r.device_class},
              {"decode_after_prompt", r.c.decode_after_prompt},
              {"notes", r.c.notes}};
    if (!r.c.row_id.empty()) j["id"] = r.c.row_id;
    if (r.c.tg_end_to_end) j["tg_kind"] = "e2e";
    if (r.has_pp()) j["prefill"] = {{"measured_tok_per_s", r.c.measured_pp}, {"estimated_tok_per_s", r.est_pp},
                                    {"error", r.err_pp}, {"bound", r.pp_bound}};
    if (r.has_tg()) j["decode"] = {{"measured_tok_per_s", r.c.measured_tg}, {"estimated_tok_per_s", r.est_tg},
                                   {"error", r.err_tg}, {"bound", r.tg_bound}};
    rows.push_back(j);
  }
  return json{{"rows", rows},
              {"skipped", skipped},
              {"summary",
               {{"rows", s.rows}, {"estimated", s.estimated}, {"skipped", s.skipped},
                {"single_stream_decode_rows", s.n_decode}, {"single_stream_prefill_rows", s.n_prefill},
                {"median_abs_err_decode", s.median_abs_err_decode}, {"max_abs_err_decode", s.max_abs_err_decode},
                {"median_abs_err_prefill", s.median_abs_err_prefill}, {"max_abs_err_prefill", s.max_abs_err_prefill},
                {"decode_rows_over_40pct", s.decode_over_40},
                {"p90_abs_err_decode", s.p90_abs_err_decode}, {"p90_abs_err_prefill", s.p90_abs_err_prefill},
                {"median_err_decode", s.median_err_decode}, {"median_err_prefill", s.median_err_prefill}}},
              {"groups", groups_to_json(group_errors(res))}};
}

json groups_to_json(const std::vector<CalGroup>& gs) {
  json out = json::array();
  for (const auto& g : gs)
    out.push_back({{"by", g.by}, {"key", g.key},
                   {"decode", {{"rows", g.n_decode}, {"median_abs_err", g.median_abs_err_decode},
                               {"p90_abs_err", g.p90_abs_err_decode}, {"median_err", g.median_err_decode}}},
                   {"prefill", {{"rows", g.n_prefill}, {"median_abs_err", g.median_abs_err_prefill},
                                {"p90_abs_err", g.p90_abs_err_prefill}, {"median_err", g.median_err_prefill}}}});
  return out;
}

}  // namespace gs
