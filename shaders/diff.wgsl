// Per-pixel difference of two images, one tile at a time.
//
// The engine (src/engine/gpu.rs) prepends `const STRIP: u32` (pixels of one row that an
// invocation handles) and `const GROUP: u32` (invocations per workgroup), and replaces
// DIFF_FORMAT with the storage format of the diff texture (rgba8uint or rgba16uint).
//
// Every invocation sums its strip in registers, then adds it to workgroup atomics; the first
// invocation of a workgroup writes the workgroup's per-channel sums once, as u32 partials that
// the host adds up as u64. STRIP * GROUP * 65535 stays below 2^32, so a partial cannot overflow.
// The differing-pixel count, the largest counted difference and the bounding box go through
// workgroup atomics, then global atomics in the header of `totals`, which the host clears
// before each tile. Minimums are kept as maximums of the complement so that zero is the
// neutral value of every atomic.

struct Params {
    // Tile size in pixels.
    width: u32,
    height: u32,
    // Strips in one row of the tile: ceil(width / STRIP).
    strips_x: u32,
    // Bit c set: RGBA channel c counts towards differing, max and bounds.
    counted_mask: u32,
    // Non-zero: the diff's alpha is `sample_max` (alpha ignored and present).
    alpha_max: u32,
    // Non-zero: write the diff pixels to `diff_out`.
    write_diff: u32,
    // The largest sample value: 255 or 65535.
    sample_max: u32,
    pad: u32,
}

struct Totals {
    differing: atomic<u32>,
    max: atomic<u32>,
    // Complements of the smallest x and y of a differing pixel.
    x0_inv: atomic<u32>,
    y0_inv: atomic<u32>,
    x1: atomic<u32>,
    y1: atomic<u32>,
    pad0: u32,
    pad1: u32,
    // Per workgroup (linear index), the sums of |a - b| per RGBA channel.
    partials: array<vec4<u32>>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var image_a: texture_2d<u32>;
@group(0) @binding(2) var image_b: texture_2d<u32>;
@group(0) @binding(3) var diff_out: texture_storage_2d<DIFF_FORMAT, write>;
@group(0) @binding(4) var<storage, read_write> totals: Totals;

// Workgroup memory starts zeroed.
var<workgroup> group_sums: array<atomic<u32>, 4>;
var<workgroup> group_differing: atomic<u32>;
var<workgroup> group_max: atomic<u32>;
var<workgroup> group_x0_inv: atomic<u32>;
var<workgroup> group_y0_inv: atomic<u32>;
var<workgroup> group_x1: atomic<u32>;
var<workgroup> group_y1: atomic<u32>;

@compute @workgroup_size(GROUP)
fn diff(
    @builtin(local_invocation_index) local: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let group_index = group.y * groups.x + group.x;
    let strip = group_index * GROUP + local;
    let y = strip / params.strips_x;

    var sums = vec4<u32>(0u);
    var differing = 0u;
    var max_diff = 0u;
    var x0 = 0xffffffffu;
    var x1 = 0u;
    if y < params.height {
        let counted = (vec4<u32>(params.counted_mask) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u);
        let counted_channels = counted != vec4<u32>(0u);
        let alpha_max = params.alpha_max != 0u;
        let write_diff = params.write_diff != 0u;
        let start = (strip % params.strips_x) * STRIP;
        let end = min(start + STRIP, params.width);
        for (var x = start; x < end; x++) {
            let at = vec2<u32>(x, y);
            let a = textureLoad(image_a, at, 0);
            let b = textureLoad(image_b, at, 0);
            let d = max(a, b) - min(a, b);
            sums += d;
            let c = select(vec4<u32>(0u), d, counted_channels);
            let m = max(max(c.x, c.y), max(c.z, c.w));
            max_diff = max(max_diff, m);
            if m != 0u {
                differing += 1u;
                x0 = min(x0, x);
                x1 = x;
            }
            if write_diff {
                var out = d;
                if alpha_max {
                    out.w = params.sample_max;
                }
                textureStore(diff_out, at, out);
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
        atomicMax(&group_x1, x1);
        atomicMax(&group_y0_inv, ~y);
        atomicMax(&group_y1, y);
    }
    workgroupBarrier();

    if local == 0u {
        totals.partials[group_index] = vec4<u32>(
            atomicLoad(&group_sums[0]),
            atomicLoad(&group_sums[1]),
            atomicLoad(&group_sums[2]),
            atomicLoad(&group_sums[3]),
        );
        let group_count = atomicLoad(&group_differing);
        if group_count != 0u {
            atomicAdd(&totals.differing, group_count);
            atomicMax(&totals.max, atomicLoad(&group_max));
            atomicMax(&totals.x0_inv, atomicLoad(&group_x0_inv));
            atomicMax(&totals.y0_inv, atomicLoad(&group_y0_inv));
            atomicMax(&totals.x1, atomicLoad(&group_x1));
            atomicMax(&totals.y1, atomicLoad(&group_y1));
        }
    }
}
