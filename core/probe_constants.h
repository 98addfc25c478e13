// probe_constants.h: a reference-kernel engine file (JSON) with the constants a probe measured
// on one machine. Shared by the probe, which writes such a file (--engine-out), and the
// estimator, which applies a device file's probed constants to the `reference` engine.
#pragma once
#include <string>

#include "json_util.h"

namespace gs {

// The engine JSON `base` with a probe's reference_cpu_ops `ops`: keys outside cpu_ops go where
// the engine schema has them, cpu_ops keys the probe has no figure for are dropped (no other
// machine's value survives); attention_reads_f16 sets whether the kernel keeps float mirrors of
// the f16 KV cache; `tag` sources the values.
json engine_json_with_probe(const json& base, const json& ops, bool attention_reads_f16, const std::string& isa,
                            const std::string& tag);

}  // namespace gs
