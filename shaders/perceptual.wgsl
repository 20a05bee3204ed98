// The perceptual rule, one invocation per counted pixel of a band: the GPU twin of
// src/engine/cpu/perceptual.rs, with the fixed-point rule of src/engine/perceptual.rs (see its
// module doc for the arithmetic). Both images arrive in their own layout, 1 to 4 samples of 8
// or 16 bits per pixel, packed into u32 words (little-endian, as the host holds them); the
// band's halo rows come with them. Each invocation writes its pixel's class (0 same, 1 changed,
// 2 anti-aliased) and heat (bits 8-15) to `results`. The engine sets GROUP, the invocations
// per workgroup; `Params` is laid out as the host's struct of that name (a test in
// src/engine/gpu/perceptual.rs checks that they agree). The host puts wide.wgsl (`mul_wide`)
// before this file.

override GROUP: u32;

struct Params {
    width: u32,
    // Rows held, halo included.
    rows: u32,
    // First counted row, in held rows.
    first: u32,
    // Counted pixels.
    pixels: u32,
    channels: u32,
    // Non-zero: 16-bit samples.
    sixteen: u32,
    // Non-zero: alpha ignored, both images opaque.
    opaque: u32,
    // Non-zero: changed pixels that are anti-aliasing are classed apart.
    aa: u32,
    // Heat limits in `heat_limits`; 0 when no heat is wanted.
    heat_steps: u32,
    // Invocations in one row of workgroups.
    stride: u32,
    // The delta limit, low and high words.
    limit_lo: u32,
    limit_hi: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image_a: array<u32>;
@group(0) @binding(2) var<storage, read> image_b: array<u32>;
@group(0) @binding(3) var<storage, read> heat_limits: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read_write> results: array<u32>;

const K_Y = vec3<i32>(4897, 9611, 1876);
const K_I = vec3<i32>(9765, -4492, -5272);
const K_Q = vec3<i32>(3465, -8563, 5098);
const W = vec3<u32>(2070u, 1225u, 802u);
const SHIFT = 8u;

// Sample `index` (counted in samples) of image `image`.
fn sample(image: u32, index: u32) -> u32 {
    var word: u32;
    var shift: u32;
    if params.sixteen != 0u {
        shift = (index & 1u) * 16u;
        if image == 0u { word = image_a[index >> 1u]; } else { word = image_b[index >> 1u]; }
        return (word >> shift) & 0xffffu;
    }
    shift = (index & 3u) * 8u;
    if image == 0u { word = image_a[index >> 2u]; } else { word = image_b[index >> 2u]; }
    return (word >> shift) & 0xffu;
}

fn same_pixel(image_p: u32, p: u32, image_q: u32, q: u32) -> bool {
    for (var c = 0u; c < params.channels; c++) {
        if sample(image_p, p * params.channels + c) != sample(image_q, q * params.channels + c) {
            return false;
        }
    }
    return true;
}

fn blend(c: u32, alpha: u32) -> u32 {
    if params.sixteen != 0u {
        return (4294836225u - (65535u - c) * alpha) >> 16u;
    }
    return 65025u - (255u - c) * alpha;
}

// Pixel `p` of `image` blended over white, in fixed point.
fn blended(image: u32, p: u32) -> vec3<u32> {
    let base = p * params.channels;
    var alpha = select(255u, 65535u, params.sixteen != 0u);
    var rgb: vec3<u32>;
    if params.channels <= 2u {
        rgb = vec3<u32>(sample(image, base));
    } else {
        rgb = vec3<u32>(sample(image, base), sample(image, base + 1u), sample(image, base + 2u));
    }
    if params.opaque == 0u && (params.channels == 2u || params.channels == 4u) {
        alpha = sample(image, base + params.channels - 1u);
    }
    return vec3<u32>(blend(rgb.x, alpha), blend(rgb.y, alpha), blend(rgb.z, alpha));
}

fn brightness(p: vec3<u32>) -> i32 {
    return i32(dot(vec3<u32>(K_Y), p));
}

fn add_wide(x: vec2<u32>, y: vec2<u32>) -> vec2<u32> {
    let lo = x.x + y.x;
    return vec2<u32>(lo, x.y + y.y + select(0u, 1u, lo < x.x));
}

fn greater(x: vec2<u32>, y: vec2<u32>) -> bool {
    return x.y > y.y || (x.y == y.y && x.x > y.x);
}

// w * v², for |v| below 2^23 and w below 2^12.
fn weighted_square(v: i32, w: u32) -> vec2<u32> {
    let m = u32(abs(v));
    let square = mul_wide(m, m);
    let low = mul_wide(square.x, w);
    return vec2<u32>(low.x, low.y + square.y * w);
}

fn delta(p: vec3<u32>, q: vec3<u32>) -> vec2<u32> {
    let d = vec3<i32>(p) - vec3<i32>(q);
    let y = dot(K_Y, d) >> SHIFT;
    let i = dot(K_I, d) >> SHIFT;
    let q2 = dot(K_Q, d) >> SHIFT;
    return add_wide(add_wide(weighted_square(y, W.x), weighted_square(i, W.y)), weighted_square(q2, W.z));
}

// The clipped neighbourhood of (x, y): x range, y range, and 1 when on the border.
fn around(x: u32, y: u32) -> vec4<u32> {
    return vec4<u32>(select(x - 1u, 0u, x == 0u), min(x + 1u, params.width - 1u),
                     select(y - 1u, 0u, y == 0u), min(y + 1u, params.rows - 1u));
}

fn on_border(x: u32, y: u32, n: vec4<u32>) -> u32 {
    return select(0u, 1u, x == n.x || x == n.y || y == n.z || y == n.w);
}

fn many_siblings(image: u32, x: u32, y: u32) -> bool {
    let n = around(x, y);
    var equal = on_border(x, y, n);
    let own = y * params.width + x;
    for (var nx = n.x; nx <= n.y; nx++) {
        for (var ny = n.z; ny <= n.w; ny++) {
            if (nx != x || ny != y) && same_pixel(image, ny * params.width + nx, image, own) {
                equal++;
                if equal > 2u {
                    return true;
                }
            }
        }
    }
    return false;
}

fn anti_aliased(image: u32, x: u32, y: u32) -> bool {
    let n = around(x, y);
    var equal = on_border(x, y, n);
    let centre = brightness(blended(image, y * params.width + x));
    var lowest = 0;
    var highest = 0;
    var darkest = vec2<u32>(0u);
    var brightest = vec2<u32>(0u);
    for (var nx = n.x; nx <= n.y; nx++) {
        for (var ny = n.z; ny <= n.w; ny++) {
            if nx == x && ny == y {
                continue;
            }
            let d = centre - brightness(blended(image, ny * params.width + nx));
            if d == 0 {
                equal++;
                if equal > 2u {
                    return false;
                }
            } else if d < lowest {
                lowest = d;
                darkest = vec2<u32>(nx, ny);
            } else if d > highest {
                highest = d;
                brightest = vec2<u32>(nx, ny);
            }
        }
    }
    if lowest == 0 || highest == 0 {
        return false;
    }
    return (many_siblings(0u, darkest.x, darkest.y) && many_siblings(1u, darkest.x, darkest.y))
        || (many_siblings(0u, brightest.x, brightest.y) && many_siblings(1u, brightest.x, brightest.y));
}

// How many heat limits `d` exceeds.
fn heat_level(d: vec2<u32>) -> u32 {
    var low = 0u;
    var high = params.heat_steps;
    while low < high {
        let mid = (low + high) / 2u;
        if greater(d, heat_limits[mid]) {
            low = mid + 1u;
        } else {
            high = mid;
        }
    }
    return low;
}

@compute @workgroup_size(GROUP)
fn perceive(@builtin(global_invocation_id) id: vec3<u32>) {
    let o = id.y * params.stride + id.x;
    if o >= params.pixels {
        return;
    }
    let x = o % params.width;
    let y = o / params.width + params.first;
    let p = y * params.width + x;
    if same_pixel(0u, p, 1u, p) {
        results[o] = 0u;
        return;
    }
    let d = delta(blended(0u, p), blended(1u, p));
    var heat = 0u;
    if params.heat_steps != 0u {
        heat = 1u + heat_level(d);
    }
    var kind = 0u;
    if greater(d, vec2<u32>(params.limit_lo, params.limit_hi)) {
        kind = 1u;
        if params.aa != 0u && (anti_aliased(0u, x, y) || anti_aliased(1u, x, y)) {
            kind = 2u;
        }
    }
    results[o] = kind | (heat << 8u);
}
