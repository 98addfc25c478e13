#!/usr/bin/env python3
"""Writes GGUF seeds for fuzz_gguf that reach what the synthetic files do not: metadata arrays of
every element type, a layer count stored as a bool or a string or missing, another architecture.
Each is a bundled seed (fuzz/corpus/fuzz_gguf/micro-q4_0.gguf) with its metadata rewritten and
the same tensors and data.
   python3 scripts/fuzz_seed_gguf.py fuzz/corpus/fuzz_gguf"""
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
          U64: "<Q", I64: "<q", F64: "<d"}


def read_str(b, o):
    n, = struct.unpack_from("<Q", b, o)
    return b[o + 8:o + 8 + n].decode(), o + 8 + n


def read_value(b, o, t):
    if t in SCALAR:
        return struct.unpack_from(SCALAR[t], b, o)[0], o + struct.calcsize(SCALAR[t])
    if t == STRING:
        return read_str(b, o)
    et, n = struct.unpack_from("<IQ", b, o)
    o += 12
    items = []
    for _ in range(n):
        v, o = read_value(b, o, et)
        items.append(v)
    return (et, items), o


def enc_str(s):
    s = s.encode()
    return struct.pack("<Q", len(s)) + s


def enc_value(t, v):
    if t in SCALAR:
        return struct.pack(SCALAR[t], v)
    if t == STRING:
        return enc_str(v)
    et, items = v
    return struct.pack("<IQ", et, len(items)) + b"".join(enc_value(et, x) for x in items)


def parse(b):
    magic, version, n_t, n_kv = struct.unpack_from("<IIQQ", b, 0)
    o, kv = 24, []
    for _ in range(n_kv):
        k, o = read_str(b, o)
        t, = struct.unpack_from("<I", b, o)
        v, o = read_value(b, o + 4, t)
        kv.append((k, t, v))
    t0 = o
    for _ in range(n_t):
        _, o = read_str(b, o)
        nd, = struct.unpack_from("<I", b, o)
        o += 4 + 8 * nd + 4 + 8
    align = next((v for k, _, v in kv if k == "general.alignment"), 32)
    data = (o + align - 1) // align * align
    return version, n_t, kv, b[t0:o], b[data:], align


def write(path, version, n_t, kv, tensor_infos, data, align):
    head = struct.pack("<IIQQ", 0x46554747, version, n_t, len(kv))
    head += b"".join(enc_str(k) + struct.pack("<I", t) + enc_value(t, v) for k, t, v in kv) + tensor_infos
    head += b"\0" * ((-len(head)) % align)
    with open(path, "wb") as f:
        f.write(head + data)


def main(out):
    src = open(f"{out}/micro-q4_0.gguf", "rb").read()
    version, n_t, kv, infos, data, align = parse(src)

    def variant(name, change):
        write(f"{out}/{name}.gguf", version, n_t, change(list(kv)), infos, data, align)

    def with_value(key, t, v):
        return lambda kv: [(k, t, v) if k == key else (k, tt, vv) for k, tt, vv in kv]

    arrays = [("seed.array." + str(et), ARRAY, (et, vals)) for et, vals in [
        (U8, [1, 2]), (I8, [-1]), (U16, [3]), (I16, [-3]), (U32, [5]), (I32, [-5]), (F32, [0.5]),
        (BOOL, [True, False]), (U64, [7]), (I64, [-7]), (F64, [0.25]), (STRING, ["a", "bc"])]]
    variant("all-value-types", lambda kv: kv + arrays + [("seed.f64", F64, 1.5), ("seed.i8", I8, -2)])
    variant("nested-array", lambda kv: kv + [("seed.nested", ARRAY, (ARRAY, [(U8, [1])]))])
    variant("layers-as-bool", with_value("gemma4.block_count", BOOL, True))
    variant("layers-as-string", with_value("gemma4.block_count", STRING, "4"))
    variant("layers-missing", lambda kv: [x for x in kv if x[0] != "gemma4.block_count"])
    variant("width-mismatch", with_value("gemma4.embedding_length", U32, 48))
    variant("ple-mismatch", with_value("gemma4.embedding_length_per_layer_input", U32, 16))
    variant("arch-llama", with_value("general.architecture", STRING, "llama"))
    variant("arch-not-a-string", with_value("general.architecture", U32, 4))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/fuzz_gguf")
