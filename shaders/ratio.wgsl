// Per-pixel difference of two images, one tile at a time. The host puts wide.wgsl (`mul_wide`)
// before this file.
//
// The engine (src/engine/gpu/ratio/pipeline.rs) sets the overridable constants: STRIP (pixels
// one invocation handles), GROUP (invocations per workgroup), SIXTEEN (16-bit samples), FLOAT
// (32-bit floating-point samples, loaded as their bits) and CHANNELS (samples per pixel). The
// images come in their own layout: grey in an r texture, grey and alpha in rg, RGBA in rgba,
// and RGB (which has no texture format) in an r texture three texels a pixel. `load` puts each
// pixel in RGBA slots, grey in red and alpha in alpha. The diff goes out in the images' own
// layout too: the tile's samples in row-major order, packed four 8-bit or two 16-bit samples
// (or one float) to a word, word w at texel (w % width, w / width) of an r32uint texture, so
// that the host reads it back as the band stores it. `Params` and `Record` are laid out as the
// host's structs of the same names (a test in src/engine/gpu/ratio/mod.rs checks that they
// agree).
//
// A workgroup takes GROUP * STRIP consecutive pixels of the tile in row-major order;
// invocation `local` takes the pixels local, local + GROUP, local + 2 * GROUP, ... of them, so
// that neighbouring invocations read neighbouring pixels. Each invocation sums in registers,
// the workgroup gathers the sums in workgroup atomics, and its first invocation writes the
// workgroup's record: per-channel sums as u32 (GROUP * STRIP * 65535 stays below 2^32) and
// sums of squares as two u32 words each (a carry out of the low word goes to the high one), the
// differing-pixel count, the largest counted difference, the first pixel (in the tile's row
// order) that has it, and the bounding box. The host adds the records up in order, as u64 and
// u128; nothing is shared between workgroups. Minimums are kept as maximums of the complement,
// so that zero is the neutral value of every atomic. With the diff, the workgroup then writes
// the words of its pixels' samples, neighbouring invocations neighbouring words.
//
// Floating-point samples follow src/engine/float.rs step for step, in integer operations on
// their bits wherever a device may treat subnormals, infinities or NaN its own way; the one
// float operation is a subtraction of two normal numbers below 2^40, which WGSL rounds
// correctly. Each difference becomes the integer floor(d * 2^24), below 2^40, kept as two
// words, and its square (below 2^80) as three; sums take one word more than for integers, with
// carries handled the same way. NaN and infinite differences are counted apart.

override STRIP: u32;
override GROUP: u32;
override SIXTEEN: bool;
override FLOAT: bool;
override CHANNELS: u32;

struct Params {
    // Tile size in pixels.
    width: u32,
    height: u32,
    // Bit c set: RGBA channel c counts towards differing, max and bounds.
    counted_mask: u32,
    // Non-zero: the diff's alpha is `sample_max` (alpha ignored and present).
    alpha_max: u32,
    // Non-zero: write the diff pixels.
    write_diff: u32,
    // The largest sample value: 255 or 65535, or the bits of 1.0.
    sample_max: u32,
}

struct Record {
    // Sums of |a - b| per RGBA channel: low and high words.
    sums: vec4<u32>,
    sums_high: vec4<u32>,
    // Sums of (a - b)² per RGBA channel: low, high and top words.
    squares_low: vec4<u32>,
    squares_high: vec4<u32>,
    squares_top: vec4<u32>,
    differing: u32,
    // The largest difference; for floats, its bits.
    max: u32,
    // Complements of the smallest x and y of a differing pixel.
    x0_inv: u32,
    y0_inv: u32,
    x1: u32,
    y1: u32,
    // Complement of the smallest index in the tile of a pixel with the largest difference.
    max_at_inv: u32,
    // Counted channels with a NaN, or an infinite difference (floats only).
    nan: u32,
    inf: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var image_a: texture_2d<u32>;
@group(0) @binding(2) var image_b: texture_2d<u32>;
@group(0) @binding(3) var diff_words: texture_storage_2d<r32uint, write>;
@group(0) @binding(4) var<storage, read_write> records: array<Record>;

var<workgroup> group_sums: array<atomic<u32>, 4>;
var<workgroup> group_sums_high: array<atomic<u32>, 4>;
var<workgroup> group_squares_low: array<atomic<u32>, 4>;
var<workgroup> group_squares_high: array<atomic<u32>, 4>;
var<workgroup> group_squares_top: array<atomic<u32>, 4>;
var<workgroup> group_nan: atomic<u32>;
var<workgroup> group_inf: atomic<u32>;
var<workgroup> group_max_at_inv: atomic<u32>;
var<workgroup> group_differing: atomic<u32>;
var<workgroup> group_max: atomic<u32>;
var<workgroup> group_x0_inv: atomic<u32>;
var<workgroup> group_y0_inv: atomic<u32>;
var<workgroup> group_x1: atomic<u32>;
var<workgroup> group_y1: atomic<u32>;

// The pixel at `at` of `image`, in RGBA slots.
fn load(image: texture_2d<u32>, at: vec2<u32>) -> vec4<u32> {
    switch CHANNELS {
        case 1u: {
            return vec4<u32>(textureLoad(image, at, 0).r, 0u, 0u, 0u);
        }
        case 2u: {
            let t = textureLoad(image, at, 0);
            return vec4<u32>(t.r, 0u, 0u, t.g);
        }
        case 3u: {
            let x = 3u * at.x;
            return vec4<u32>(
                textureLoad(image, vec2<u32>(x, at.y), 0).r,
                textureLoad(image, vec2<u32>(x + 1u, at.y), 0).r,
                textureLoad(image, vec2<u32>(x + 2u, at.y), 0).r,
                0u,
            );
        }
        default: {
            return textureLoad(image, at, 0);
        }
    }
}

const NAN_BITS: u32 = 0x7fc00000u;
const INF_BITS: u32 = 0x7f800000u;
// 65536.0 and 2^40.
const LARGE_BITS: u32 = 0x47800000u;
const HUGE_BITS: u32 = 0x53800000u;

// A float's bits with subnormals and -0 as +0.
fn flushed(bits: u32) -> u32 {
    return select(bits, 0u, (bits & 0x7f800000u) == 0u);
}

fn is_nan(bits: u32) -> bool {
    return (bits & 0x7fffffffu) > INF_BITS;
}

// The difference of two float samples as the diff holds it: 0 when equal, NAN_BITS, INF_BITS
// (infinite, or 65536 and more), or the bits of |a - b| (see src/engine/float.rs).
fn float_diff(a_bits: u32, b_bits: u32) -> u32 {
    let a_nan = is_nan(a_bits);
    let b_nan = is_nan(b_bits);
    if a_nan || b_nan {
        return select(NAN_BITS, 0u, a_nan && b_nan);
    }
    let a = flushed(a_bits);
    let b = flushed(b_bits);
    if a == b {
        return 0u;
    }
    if max(a & 0x7fffffffu, b & 0x7fffffffu) >= HUGE_BITS {
        return INF_BITS;
    }
    let d = flushed(bitcast<u32>(abs(bitcast<f32>(a) - bitcast<f32>(b))));
    return select(d, INF_BITS, d >= LARGE_BITS);
}

// floor(d * 2^24) of a finite difference's bits (normal, below 65536): low and high words.
fn fixed(bits: u32) -> vec2<u32> {
    if bits == 0u {
        return vec2<u32>(0u);
    }
    let e = bits >> 23u;
    let m = (bits & 0x7fffffu) | 0x800000u;
    if e >= 126u {
        let s = e - 126u;
        return vec2<u32>(m << s, select(0u, m >> (32u - s), s > 0u));
    }
    let r = 126u - e;
    return vec2<u32>(select(0u, m >> r, r < 32u), 0u);
}

// The square of a fixed-point difference below 2^40, in three words.
fn square_wide(q: vec2<u32>) -> vec3<u32> {
    let low = mul_wide(q.x, q.x);
    let cross = mul_wide(q.x, q.y);
    let twice = vec2<u32>(cross.x << 1u, (cross.y << 1u) | (cross.x >> 31u));
    let middle = low.y + twice.x;
    let carry = select(0u, 1u, middle < twice.x);
    return vec3<u32>(low.x, middle, twice.y + carry + q.y * q.y);
}

// Adds a three-word number to channel k of the workgroup's sums of squares, carrying between
// words (into the top word only for floats, the only ones that reach it).
fn add_squares(k: u32, x: vec3<u32>) {
    let before = atomicAdd(&group_squares_low[k], x.x);
    let carry = select(0u, 1u, before + x.x < before);
    let high = x.y + carry;
    let before_high = atomicAdd(&group_squares_high[k], high);
    if FLOAT {
        let overflow = select(0u, 1u, high < x.y);
        let carry_high = select(0u, 1u, before_high + high < before_high);
        atomicAdd(&group_squares_top[k], x.z + overflow + carry_high);
    }
}

// Sample `s` of the tile in row-major order: |a - b| (for floats, as `float_diff` has it), or
// the largest value for alpha when alpha is ignored.
fn diff_sample(s: u32) -> u32 {
    let c = s % CHANNELS;
    if params.alpha_max != 0u && c == CHANNELS - 1u {
        return params.sample_max;
    }
    let p = s / CHANNELS;
    var at = vec2<u32>(p % params.width, p / params.width);
    var slot = c;
    if CHANNELS == 3u {
        at.x = 3u * at.x + c;
        slot = 0u;
    }
    let a = textureLoad(image_a, at, 0)[slot];
    let b = textureLoad(image_b, at, 0)[slot];
    if FLOAT {
        return float_diff(a, b);
    }
    return max(a, b) - min(a, b);
}

// The workgroup's pixels' diff samples, packed into words.
fn write_words(local: u32, group_index: u32) {
    let per_word = select(select(4u, 2u, SIXTEEN), 1u, FLOAT);
    let bits = 32u / per_word;
    let samples = params.width * params.height * CHANNELS;
    let words = (samples + per_word - 1u) / per_word;
    // GROUP * STRIP is a multiple of 4: a workgroup's samples fill whole words.
    let group_words = GROUP * STRIP * CHANNELS / per_word;
    let end = min((group_index + 1u) * group_words, words);
    let width = textureDimensions(diff_words).x;
    for (var w = group_index * group_words + local; w < end; w += GROUP) {
        var word = 0u;
        for (var k = 0u; k < per_word; k++) {
            let s = w * per_word + k;
            if s < samples {
                word |= diff_sample(s) << (k * bits);
            }
        }
        textureStore(diff_words, vec2<u32>(w % width, w / width), vec4<u32>(word, 0u, 0u, 0u));
    }
}

@compute @workgroup_size(GROUP)
fn diff(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Workgroup memory is zeroed here, not by the pipeline.
    if local == 0u {
        for (var c = 0u; c < 4u; c++) {
            atomicStore(&group_sums[c], 0u);
            atomicStore(&group_sums_high[c], 0u);
            atomicStore(&group_squares_low[c], 0u);
            atomicStore(&group_squares_high[c], 0u);
            atomicStore(&group_squares_top[c], 0u);
        }
        atomicStore(&group_nan, 0u);
        atomicStore(&group_inf, 0u);
        atomicStore(&group_max_at_inv, 0u);
        atomicStore(&group_differing, 0u);
        atomicStore(&group_max, 0u);
        atomicStore(&group_x0_inv, 0u);
        atomicStore(&group_y0_inv, 0u);
        atomicStore(&group_x1, 0u);
        atomicStore(&group_y1, 0u);
    }
    workgroupBarrier();

    let group_index = group.y * groups.x + group.x;
    let first = group_index * GROUP * STRIP + local;
    let counted = (vec4<u32>(params.counted_mask) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u);
    let counted_channels = counted != vec4<u32>(0u);

    var sums = vec4<u32>(0u);
    var sums_high = vec4<u32>(0u);
    var squares_low = vec4<u32>(0u);
    var squares_high = vec4<u32>(0u);
    var squares_top = vec4<u32>(0u);
    var nan = 0u;
    var inf = 0u;
    var differing = 0u;
    var max_diff = 0u;
    // The index in the tile of this invocation's first pixel with its largest difference.
    var max_at = 0u;
    var x0 = 0xffffffffu;
    var y0 = 0xffffffffu;
    var x1 = 0u;
    var y1 = 0u;
    // The pixel's column and row, stepped on without a division per pixel.
    var at = vec2<u32>(first % params.width, first / params.width);
    for (var k = 0u; k < STRIP; k++) {
        if k > 0u {
            at.x += GROUP;
            if at.x >= params.width {
                let rows = at.x / params.width;
                at.y += rows;
                at.x -= rows * params.width;
            }
        }
        if at.y >= params.height {
            break;
        }
        let a = load(image_a, at);
        let b = load(image_b, at);
        var m = 0u;
        var differs = false;
        if FLOAT {
            for (var k = 0u; k < 4u; k++) {
                let bits = float_diff(a[k], b[k]);
                let counted = counted_channels[k];
                if bits == NAN_BITS || bits == INF_BITS {
                    nan += select(0u, 1u, counted && bits == NAN_BITS);
                    inf += select(0u, 1u, counted && bits == INF_BITS);
                    differs = differs || counted;
                    continue;
                }
                let q = fixed(bits);
                sums[k] += q.x;
                sums_high[k] += q.y + select(0u, 1u, sums[k] < q.x);
                let square = square_wide(q);
                squares_low[k] += square.x;
                let high = square.y + select(0u, 1u, squares_low[k] < square.x);
                squares_high[k] += high;
                let overflow = select(0u, 1u, high < square.y || squares_high[k] < high);
                squares_top[k] += square.z + overflow;
                if counted && bits != 0u {
                    differs = true;
                    m = max(m, bits);
                }
            }
        } else {
            let d = max(a, b) - min(a, b);
            sums += d;
            // A square of a 16-bit difference fits a u32; the sum carries into the high word.
            let square = d * d;
            squares_low += square;
            squares_high += select(vec4<u32>(0u), vec4<u32>(1u), squares_low < square);
            let c = select(vec4<u32>(0u), d, counted_channels);
            m = max(max(c.x, c.y), max(c.z, c.w));
            differs = m != 0u;
        }
        if m > max_diff {
            max_diff = m;
            max_at = at.y * params.width + at.x;
        }
        if differs {
            differing += 1u;
            x0 = min(x0, at.x);
            y0 = min(y0, at.y);
            x1 = max(x1, at.x);
            y1 = max(y1, at.y);
        }
    }

    if any(sums != vec4<u32>(0u)) || any(sums_high != vec4<u32>(0u)) {
        for (var k = 0u; k < 4u; k++) {
            let before = atomicAdd(&group_sums[k], sums[k]);
            if FLOAT {
                let carry = select(0u, 1u, before + sums[k] < before);
                atomicAdd(&group_sums_high[k], sums_high[k] + carry);
            }
            add_squares(k, vec3<u32>(squares_low[k], squares_high[k], squares_top[k]));
        }
    }
    if nan != 0u {
        atomicAdd(&group_nan, nan);
    }
    if inf != 0u {
        atomicAdd(&group_inf, inf);
    }
    if differing != 0u {
        atomicAdd(&group_differing, differing);
        atomicMax(&group_max, max_diff);
        atomicMax(&group_x0_inv, ~x0);
        atomicMax(&group_y0_inv, ~y0);
        atomicMax(&group_x1, x1);
        atomicMax(&group_y1, y1);
    }
    workgroupBarrier();

    // The first pixel with the workgroup's largest difference.
    let largest = atomicLoad(&group_max);
    if differing != 0u && max_diff == largest {
        atomicMax(&group_max_at_inv, ~max_at);
    }
    workgroupBarrier();

    if local == 0u {
        var record: Record;
        record.sums = vec4<u32>(
            atomicLoad(&group_sums[0]),
            atomicLoad(&group_sums[1]),
            atomicLoad(&group_sums[2]),
            atomicLoad(&group_sums[3]),
        );
        record.differing = atomicLoad(&group_differing);
        record.max = atomicLoad(&group_max);
        record.x0_inv = atomicLoad(&group_x0_inv);
        record.y0_inv = atomicLoad(&group_y0_inv);
        record.x1 = atomicLoad(&group_x1);
        record.y1 = atomicLoad(&group_y1);
        record.squares_low = vec4<u32>(
            atomicLoad(&group_squares_low[0]),
            atomicLoad(&group_squares_low[1]),
            atomicLoad(&group_squares_low[2]),
            atomicLoad(&group_squares_low[3]),
        );
        record.squares_high = vec4<u32>(
            atomicLoad(&group_squares_high[0]),
            atomicLoad(&group_squares_high[1]),
            atomicLoad(&group_squares_high[2]),
            atomicLoad(&group_squares_high[3]),
        );
        record.sums_high = vec4<u32>(
            atomicLoad(&group_sums_high[0]),
            atomicLoad(&group_sums_high[1]),
            atomicLoad(&group_sums_high[2]),
            atomicLoad(&group_sums_high[3]),
        );
        record.squares_top = vec4<u32>(
            atomicLoad(&group_squares_top[0]),
            atomicLoad(&group_squares_top[1]),
            atomicLoad(&group_squares_top[2]),
            atomicLoad(&group_squares_top[3]),
        );
        record.nan = atomicLoad(&group_nan);
        record.inf = atomicLoad(&group_inf);
        record.max_at_inv = atomicLoad(&group_max_at_inv);
        records[group_index] = record;
    }

    if params.write_diff != 0u {
        write_words(local, group_index);
    }
}
