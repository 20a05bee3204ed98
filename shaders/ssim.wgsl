// SSIM, one invocation per output pixel and colour channel: the GPU twin of
// src/engine/cpu/ssim.rs, in f32. The window's means come first, then its centred moments
// (sums of w (x - mean)², w (y - mean)², w (x - mean)(y - mean)): f32 sums of x² would lose the
// variance of a flat window to cancellation. Each workgroup loads the 26x26 pixels its 16x16
// pixels' windows cover, for one channel (`workgroup_id.z`), into workgroup memory. Both images
// arrive in their own layout, 1 to 4 samples of 8 or 16 bits packed into u32 words (little
// endian, as the host holds them), or f32, with the rows of context around the output rows.
// A pixel whose window does not lie within the rows held or the width gets 1. The engine sets
// W0 to W5, the window's weights from the centre outwards. `Params` is laid out as the host's
// struct of that name (a test in src/engine/gpu/ssim.rs checks that they agree).

override W0: f32;
override W1: f32;
override W2: f32;
override W3: f32;
override W4: f32;
override W5: f32;

const RADIUS = 5u;
const TAPS = 11u;
// Output pixels of a workgroup along each side.
const SIDE = 16u;
// Pixels held along each side of a workgroup's patch.
const PATCH = 26u;

struct Params {
    width: u32,
    // Rows held, the output rows and their context.
    held: u32,
    // First output row, in held rows.
    first: u32,
    // Output rows.
    rows: u32,
    // Samples per pixel.
    channels: u32,
    // Colour channels compared, written per pixel.
    colours: u32,
    // 0: 8-bit samples, 1: 16-bit, 2: f32.
    depth: u32,
    c1: f32,
    c2: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image_a: array<u32>;
@group(0) @binding(2) var<storage, read> image_b: array<u32>;
@group(0) @binding(3) var<storage, read_write> results: array<f32>;

var<workgroup> patch_a: array<f32, 676>;
var<workgroup> patch_b: array<f32, 676>;

// Sample `index` (counted in samples) of one image's words.
fn sample(word_at: u32, index: u32, image: u32) -> f32 {
    var word: u32;
    if image == 0u { word = image_a[word_at]; } else { word = image_b[word_at]; }
    switch params.depth {
        case 0u: { return f32((word >> ((index & 3u) * 8u)) & 0xffu); }
        case 1u: { return f32((word >> ((index & 1u) * 16u)) & 0xffffu); }
        default: { return bitcast<f32>(word); }
    }
}

fn word_of(index: u32) -> u32 {
    switch params.depth {
        case 0u: { return index >> 2u; }
        case 1u: { return index >> 1u; }
        default: { return index; }
    }
}

@compute @workgroup_size(16, 16, 1)
fn ssim(
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
    @builtin(local_invocation_index) own: u32,
) {
    let channel = group.z;
    let x0 = group.x * SIDE;
    // The patch's first held row and column are RADIUS before the group's first pixel.
    let top = params.first + group.y * SIDE;
    for (var i = own; i < PATCH * PATCH; i += SIDE * SIDE) {
        let x = x0 + i % PATCH;
        let y = top + i / PATCH;
        var a = 0.0;
        var b = 0.0;
        if x >= RADIUS && x - RADIUS < params.width && y >= RADIUS && y - RADIUS < params.held {
            let index = ((y - RADIUS) * params.width + x - RADIUS) * params.channels + channel;
            let at = word_of(index);
            a = sample(at, index, 0u);
            b = sample(at, index, 1u);
        }
        patch_a[i] = a;
        patch_b[i] = b;
    }
    workgroupBarrier();

    let x = x0 + local.x;
    let row = group.y * SIDE + local.y;
    if x >= params.width || row >= params.rows {
        return;
    }
    let y = params.first + row;
    var s = 1.0;
    if x >= RADIUS && x + RADIUS < params.width && y >= RADIUS && y + RADIUS < params.held {
        var w = array<f32, 11>(W5, W4, W3, W2, W1, W0, W1, W2, W3, W4, W5);
        // The window of this pixel starts at its own place in the patch.
        let corner = local.y * PATCH + local.x;
        var mx = 0.0;
        var my = 0.0;
        for (var j = 0u; j < TAPS; j++) {
            var rx = 0.0;
            var ry = 0.0;
            for (var i = 0u; i < TAPS; i++) {
                let p = corner + j * PATCH + i;
                rx += w[i] * patch_a[p];
                ry += w[i] * patch_b[p];
            }
            mx += w[j] * rx;
            my += w[j] * ry;
        }
        var vx = 0.0;
        var vy = 0.0;
        var vxy = 0.0;
        for (var j = 0u; j < TAPS; j++) {
            var rx = 0.0;
            var ry = 0.0;
            var rxy = 0.0;
            for (var i = 0u; i < TAPS; i++) {
                let p = corner + j * PATCH + i;
                let dx = patch_a[p] - mx;
                let dy = patch_b[p] - my;
                rx += w[i] * dx * dx;
                ry += w[i] * dy * dy;
                rxy += w[i] * dx * dy;
            }
            vx += w[j] * rx;
            vy += w[j] * ry;
            vxy += w[j] * rxy;
        }
        let num = (2.0 * mx * my + params.c1) * (2.0 * vxy + params.c2);
        let den = (mx * mx + my * my + params.c1) * (vx + vy + params.c2);
        s = num / den;
    }
    results[(row * params.width + x) * params.colours + channel] = s;
}
