// Per-pixel difference of two images, one tile at a time.
//
// The engine (src/engine/gpu/frame.rs) sets the overridable constants: STRIP (pixels one
// invocation handles), GROUP (invocations per workgroup), SIXTEEN (16-bit samples: the diff
// goes to `diff16`, else to `diff8`) and CHANNELS (samples per pixel). The images come in their
// own layout: grey in an r texture, grey and alpha in rg, RGBA in rgba, and RGB (which has no
// texture format) in an r texture three texels a pixel. `load` puts each pixel in RGBA slots,
// grey in red and alpha in alpha; the diff texture is RGBA in those slots. `Params` and
// `Record` are laid out as the host's structs of the same names (src/engine/gpu/layout.rs
// checks that they agree).
//
// A workgroup takes GROUP * STRIP consecutive pixels of the tile in row-major order;
// invocation `local` takes the pixels local, local + GROUP, local + 2 * GROUP, ... of them, so
// that neighbouring invocations read neighbouring pixels. Each invocation sums in registers,
// the workgroup gathers the sums in workgroup atomics, and its first invocation writes the
// workgroup's record: per-channel sums as u32 (GROUP * STRIP * 65535 stays below 2^32), the
// differing-pixel count, the largest counted difference and the bounding box. The host adds
// the records up in order, as u64; nothing is shared between workgroups. Minimums are kept as
// maximums of the complement, so that zero is the neutral value of every atomic.

override STRIP: u32;
override GROUP: u32;
override SIXTEEN: bool;
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
    // The largest sample value: 255 or 65535.
    sample_max: u32,
}

struct Record {
    // Sums of |a - b| per RGBA channel.
    sums: vec4<u32>,
    differing: u32,
    max: u32,
    // Complements of the smallest x and y of a differing pixel.
    x0_inv: u32,
    y0_inv: u32,
    x1: u32,
    y1: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var image_a: texture_2d<u32>;
@group(0) @binding(2) var image_b: texture_2d<u32>;
@group(0) @binding(3) var diff8: texture_storage_2d<rgba8uint, write>;
@group(0) @binding(4) var<storage, read_write> records: array<Record>;
@group(0) @binding(5) var diff16: texture_storage_2d<rgba16uint, write>;

var<workgroup> group_sums: array<atomic<u32>, 4>;
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
        }
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
    let alpha_max = params.alpha_max != 0u;
    let write_diff = params.write_diff != 0u;

    var sums = vec4<u32>(0u);
    var differing = 0u;
    var max_diff = 0u;
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
        let d = max(a, b) - min(a, b);
        sums += d;
        let c = select(vec4<u32>(0u), d, counted_channels);
        let m = max(max(c.x, c.y), max(c.z, c.w));
        max_diff = max(max_diff, m);
        if m != 0u {
            differing += 1u;
            x0 = min(x0, at.x);
            y0 = min(y0, at.y);
            x1 = max(x1, at.x);
            y1 = max(y1, at.y);
        }
        if write_diff {
            var out = d;
            if alpha_max {
                out.w = params.sample_max;
            }
            if SIXTEEN {
                textureStore(diff16, at, out);
            } else {
                textureStore(diff8, at, out);
            }
        }
    }

    if any(sums != vec4<u32>(0u)) {
        atomicAdd(&group_sums[0], sums.x);
        atomicAdd(&group_sums[1], sums.y);
        atomicAdd(&group_sums[2], sums.z);
        atomicAdd(&group_sums[3], sums.w);
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
        records[group_index] = record;
    }
}
