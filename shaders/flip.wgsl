// The FLIP kernel on the GPU: the twin of src/engine/cpu/flip.rs, in the same order of f32
// operations (src/engine/flip/colour.rs names the steps). Three entry points run in turn for
// each tile of a band's rows and each exposure: `convert` (linear RGB, tone-mapped for HDR,
// then YCxCz, per held pixel), `filter_x` (the colour and feature filters along x, clamping
// columns), and `filter_y` (along y, clamping rows to the band's edges, then FLIP per counted
// pixel, kept where larger for HDR). Both images arrive in their own layout, 1 to 4 samples of
// 8 or 16 bits packed into u32 words, or f32 bits. `table` holds the colour constants (indices
// below), then the filter taps, then the sRGB decoding table, all computed on the host.
// `Params` is laid out as the host's struct of that name (a test in src/engine/gpu/flip.rs
// checks that they agree); the host sets GROUP, the invocations per workgroup.

override GROUP: u32;

struct Params {
    width: u32,
    channels: u32,
    // 0: 8-bit, 1: 16-bit, 2: f32 samples.
    depth: u32,
    // Non-zero: HDR-FLIP, at `factor` times the radiance.
    hdr: u32,
    // Non-zero: Reinhard's tone mapper rather than the rational curve of `table`.
    reinhard: u32,
    factor: f32,
    // Held row of the tile's first converted row, and converted rows.
    first_held: u32,
    converted: u32,
    // Counted-row index of the first converted row, and of the tile's first counted row.
    first_row: i32,
    tile_row: i32,
    // Counted rows of the tile.
    tile_rows: u32,
    // Counted-row indices the filters may read, from `lo` to `hi - 1`.
    lo: i32,
    hi: i32,
    spatial_radius: u32,
    feature_radius: u32,
    // Non-zero: keep the larger of `flip` and this exposure's value.
    keep_max: u32,
    // Invocations in one row of workgroups.
    stride: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image_a: array<u32>;
@group(0) @binding(2) var<storage, read> image_b: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;
// Per converted pixel: Y, Cx, Cz of image 1, then of image 2, as six planes.
@group(0) @binding(4) var<storage, read_write> ycc: array<f32>;
// Per converted pixel, per image: Y, Cx, Cz1, Cz2, dx, ddx, g, as fourteen planes.
@group(0) @binding(5) var<storage, read_write> filtered: array<f32>;
@group(0) @binding(6) var<storage, read_write> flip: array<f32>;

// Indices in `table`.
const RGB_TO_XYZ = 0u;
const XYZ_TO_RGB = 9u;
const ILLUMINANT = 18u;
const INV_ILLUMINANT = 21u;
const DELTA_CUBE = 24u;
const LAB_FACTOR = 25u;
const LAB_TERM = 26u;
const ONE_THIRD = 27u;
const ONE_OVER_116 = 28u;
const SIXTEEN_OVER_116 = 29u;
const CMAX = 30u;
const PCCMAX = 31u;
const GPT_OVER_PCCMAX = 32u;
const GQC = 33u;
const GPT = 34u;
const GQF = 35u;
const NORMALISATION = 36u;
const TONEMAP = 37u;
const LOG2_SERIES = 43u;
const EXP2_SERIES = 48u;
const TAPS = 55u;

fn invocation(id: vec3<u32>) -> u32 {
    return id.y * params.stride + id.x;
}

// The reference's Max and Min: the first operand when the comparison holds.
fn max_of(x: f32, y: f32) -> f32 {
    return select(y, x, x > y);
}

fn min_of(x: f32, y: f32) -> f32 {
    return select(x, y, x > y);
}

fn clamp01(v: f32) -> f32 {
    return min_of(max_of(v, 0.0), 1.0);
}

// log2 of a positive x, as colour::log2 computes it.
fn log2_of(v: f32) -> f32 {
    let tiny = v < 1.17549435e-38;
    let x = select(v, v * 16777216.0, tiny);
    let bits = bitcast<u32>(x);
    let exponent = i32((bits >> 23u) & 0xffu) - select(127, 127 + 24, tiny);
    let mantissa = bitcast<f32>((bits & 0x007fffffu) | 0x3f800000u);
    let big = mantissa > 1.41421356;
    let m = select(mantissa, mantissa * 0.5, big);
    let e = select(exponent, exponent + 1, big);
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let c = LOG2_SERIES;
    let series = table[c] + s2 * (table[c + 1u] + s2 * (table[c + 2u] + s2 * (table[c + 3u] + s2 * table[c + 4u])));
    return f32(e) + s * series;
}

// 2^z, as colour::exp2 computes it: z rounded to the nearest integer (ties to even), and a
// series for the rest.
fn exp2_of(v: f32) -> f32 {
    let z = min_of(max_of(v, -127.0), 127.0);
    let n = round(z);
    let f = z - n;
    let c = EXP2_SERIES;
    let p = 1.0 + f * (table[c] + f * (table[c + 1u] + f * (table[c + 2u] + f * (table[c + 3u] + f * (table[c + 4u] + f * (table[c + 5u] + f * table[c + 6u]))))));
    return p * bitcast<f32>(u32(i32(n) + 127) << 23u);
}

// x^y for x, y >= 0, as colour::pow computes it.
fn power(x: f32, y: f32) -> f32 {
    let p = exp2_of(y * log2_of(x));
    let zero = select(0.0, 1.0, y == 0.0);
    return select(p, zero, x == 0.0);
}

fn times(m: u32, c: vec3<f32>) -> vec3<f32> {
    let x = table[m] * c.x + table[m + 1u] * c.y + table[m + 2u] * c.z;
    let y = table[m + 3u] * c.x + table[m + 4u] * c.y + table[m + 5u] * c.z;
    let z = table[m + 6u] * c.x + table[m + 7u] * c.y + table[m + 8u] * c.z;
    return vec3<f32>(x, y, z);
}

fn xyz_to_ycxcz(xyz: vec3<f32>) -> vec3<f32> {
    let x = xyz.x * table[INV_ILLUMINANT];
    let y = xyz.y * table[INV_ILLUMINANT + 1u];
    let z = xyz.z * table[INV_ILLUMINANT + 2u];
    return vec3<f32>(116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z));
}

fn ycxcz_to_xyz(c: vec3<f32>) -> vec3<f32> {
    let y = (c.x + 16.0) / 116.0;
    let cx = c.y / 500.0;
    let cz = c.z / 200.0;
    return vec3<f32>(
        (y + cx) * table[ILLUMINANT],
        y * table[ILLUMINANT + 1u],
        (y - cz) * table[ILLUMINANT + 2u],
    );
}

fn lab_root(v: f32) -> f32 {
    let root = power(v, table[ONE_THIRD]);
    let line = table[LAB_FACTOR] * v + table[LAB_TERM];
    return select(line, root, v > table[DELTA_CUBE]);
}

fn xyz_to_lab(xyz: vec3<f32>) -> vec3<f32> {
    let x = lab_root(xyz.x * table[INV_ILLUMINANT]);
    let y = lab_root(xyz.y * table[INV_ILLUMINANT + 1u]);
    let z = lab_root(xyz.z * table[INV_ILLUMINANT + 2u]);
    return vec3<f32>(116.0 * y - 16.0, 500.0 * (x - y), 200.0 * (y - z));
}

fn rgb_to_hunt_lab(rgb: vec3<f32>) -> vec3<f32> {
    let lab = xyz_to_lab(times(RGB_TO_XYZ, rgb));
    return vec3<f32>(lab.x, 0.01 * lab.x * lab.y, 0.01 * lab.x * lab.z);
}

fn filtered_lab(c: vec3<f32>) -> vec3<f32> {
    let rgb = times(XYZ_TO_RGB, ycxcz_to_xyz(c));
    return rgb_to_hunt_lab(vec3<f32>(clamp01(rgb.x), clamp01(rgb.y), clamp01(rgb.z)));
}

fn colour_difference(reference: vec3<f32>, test: vec3<f32>) -> f32 {
    let p = filtered_lab(reference);
    let q = filtered_lab(test);
    let da = p.y - q.y;
    let db = p.z - q.z;
    let hyab = abs(p.x - q.x) + sqrt(da * da + db * db);
    let d = power(hyab, table[GQC]);
    let pccmax = table[PCCMAX];
    let gpt = table[GPT];
    let below = d * table[GPT_OVER_PCCMAX];
    let above = gpt + ((d - pccmax) / (table[CMAX] - pccmax)) * (1.0 - gpt);
    return select(above, below, d < pccmax);
}

// Sample `index` (counted in samples) of one image, as a value: v / 255, v / 65535 or f32.
fn sample(image: u32, index: u32) -> f32 {
    if params.depth == 2u {
        if image == 0u { return bitcast<f32>(image_a[index]); }
        return bitcast<f32>(image_b[index]);
    }
    var word: u32;
    if params.depth == 1u {
        if image == 0u { word = image_a[index >> 1u]; } else { word = image_b[index >> 1u]; }
        return f32((word >> ((index & 1u) * 16u)) & 0xffffu);
    }
    if image == 0u { word = image_a[index >> 2u]; } else { word = image_b[index >> 2u]; }
    return f32((word >> ((index & 3u) * 8u)) & 0xffu);
}

// One sample as linear RGB's value: decoded through the sRGB table for LDR-FLIP (f32 samples
// by the formula), v / 255 or v / 65535 for HDR-FLIP.
fn linear(image: u32, index: u32, lut: u32) -> f32 {
    let v = sample(image, index);
    if params.depth == 2u {
        if params.hdr != 0u {
            return v;
        }
        var decoded: f32;
        if v <= 0.04045 {
            decoded = v / 12.92;
        } else {
            decoded = pow((v + 0.055) / 1.055, 2.4);
        }
        return clamp01(decoded);
    }
    if params.hdr != 0u {
        if params.depth == 1u { return v / 65535.0; }
        return v / 255.0;
    }
    return table[lut + u32(v)];
}

fn tonemap(rgb: vec3<f32>) -> vec3<f32> {
    if params.reinhard != 0u {
        let luminance = 0.2126 * rgb.x + 0.7152 * rgb.y + 0.0722 * rgb.z;
        let factor = 1.0 / (1.0 + luminance);
        return vec3<f32>(clamp01(rgb.x * factor), clamp01(rgb.y * factor), clamp01(rgb.z * factor));
    }
    let k = TONEMAP;
    var out: vec3<f32>;
    for (var i = 0u; i < 3u; i++) {
        let c = rgb[i];
        let numerator = (c * c) * table[k] + c * table[k + 1u] + table[k + 2u];
        let denominator = c * c * table[k + 3u] + c * table[k + 4u] + table[k + 5u];
        out[i] = clamp01(numerator / denominator);
    }
    return out;
}

fn spatial_taps() -> u32 {
    return 2u * params.spatial_radius + 1u;
}

// The first tap of filter `f`: the colour filters 0 to 3, then the feature filters 4 to 6.
fn taps_of(f: u32) -> u32 {
    if f < 4u {
        return TAPS + f * spatial_taps();
    }
    return TAPS + 4u * spatial_taps() + (f - 4u) * (2u * params.feature_radius + 1u);
}

fn lut_start() -> u32 {
    return taps_of(7u);
}

@compute @workgroup_size(GROUP)
fn convert(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = invocation(id);
    let plane = params.width * params.converted;
    if i >= plane {
        return;
    }
    let x = i % params.width;
    let row = i / params.width;
    let pixel = (params.first_held + row) * params.width + x;
    let channels = params.channels;
    let lut = lut_start();
    for (var image = 0u; image < 2u; image++) {
        let at = pixel * channels;
        var rgb: vec3<f32>;
        if channels >= 3u {
            rgb = vec3<f32>(linear(image, at, lut), linear(image, at + 1u, lut), linear(image, at + 2u, lut));
        } else {
            rgb = vec3<f32>(linear(image, at, lut));
        }
        if params.hdr != 0u {
            rgb = tonemap(rgb * params.factor);
        }
        let c = xyz_to_ycxcz(times(RGB_TO_XYZ, rgb));
        ycc[(image * 3u) * plane + i] = c.x;
        ycc[(image * 3u + 1u) * plane + i] = c.y;
        ycc[(image * 3u + 2u) * plane + i] = c.z;
    }
}

@compute @workgroup_size(GROUP)
fn filter_x(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = invocation(id);
    let plane = params.width * params.converted;
    if i >= plane {
        return;
    }
    let x = i32(i % params.width);
    let start = i - u32(x);
    let last = i32(params.width) - 1;
    let rs = i32(params.spatial_radius);
    let rf = i32(params.feature_radius);
    for (var image = 0u; image < 2u; image++) {
        let y_plane = (image * 3u) * plane + start;
        var sums = array<f32, 7>();
        for (var k = -rs; k <= rs; k++) {
            let at = u32(clamp(x + k, 0, last));
            let tap = u32(k + rs);
            let y = ycc[y_plane + at];
            let cx = ycc[y_plane + plane + at];
            let cz = ycc[y_plane + 2u * plane + at];
            sums[0] += table[taps_of(0u) + tap] * y;
            sums[1] += table[taps_of(1u) + tap] * cx;
            sums[2] += table[taps_of(2u) + tap] * cz;
            sums[3] += table[taps_of(3u) + tap] * cz;
        }
        for (var k = -rf; k <= rf; k++) {
            let at = u32(clamp(x + k, 0, last));
            let tap = u32(k + rf);
            let l = ycc[y_plane + at] * table[ONE_OVER_116] + table[SIXTEEN_OVER_116];
            sums[4] += table[taps_of(5u) + tap] * l;
            sums[5] += table[taps_of(6u) + tap] * l;
            sums[6] += table[taps_of(4u) + tap] * l;
        }
        for (var p = 0u; p < 7u; p++) {
            filtered[(image * 7u + p) * plane + i] = sums[p];
        }
    }
}

@compute @workgroup_size(GROUP)
fn filter_y(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = invocation(id);
    let width = params.width;
    if i >= width * params.tile_rows {
        return;
    }
    let plane = width * params.converted;
    let x = i % width;
    let y = params.tile_row + i32(i / width);
    let rs = i32(params.spatial_radius);
    let rf = i32(params.feature_radius);
    var colour: array<vec3<f32>, 2>;
    var edge: array<f32, 2>;
    var point: array<f32, 2>;
    for (var image = 0u; image < 2u; image++) {
        let planes = image * 7u * plane + x;
        var sums = array<f32, 8>();
        for (var k = -rs; k <= rs; k++) {
            let row = u32(clamp(y + k, params.lo, params.hi - 1) - params.first_row);
            let at = planes + row * width;
            let tap = u32(k + rs);
            for (var p = 0u; p < 4u; p++) {
                sums[p] += table[taps_of(p) + tap] * filtered[at + p * plane];
            }
        }
        for (var k = -rf; k <= rf; k++) {
            let row = u32(clamp(y + k, params.lo, params.hi - 1) - params.first_row);
            let at = planes + row * width;
            let tap = u32(k + rf);
            let g = table[taps_of(4u) + tap];
            let gaussian = filtered[at + 6u * plane];
            sums[4] += g * filtered[at + 4u * plane];
            sums[5] += g * filtered[at + 5u * plane];
            sums[6] += table[taps_of(5u) + tap] * gaussian;
            sums[7] += table[taps_of(6u) + tap] * gaussian;
        }
        colour[image] = vec3<f32>(sums[0], sums[1], sums[2] + sums[3]);
        edge[image] = sqrt(sums[4] * sums[4] + sums[6] * sums[6]);
        point[image] = sqrt(sums[5] * sums[5] + sums[7] * sums[7]);
    }
    let difference = colour_difference(colour[0], colour[1]);
    let features = max_of(abs(edge[0] - edge[1]), abs(point[0] - point[1]));
    let feature = power(table[NORMALISATION] * features, table[GQF]);
    let value = power(difference, 1.0 - feature);
    let out = u32(y) * width + x;
    if params.keep_max == 0u {
        flip[out] = value;
    } else if value > flip[out] {
        flip[out] = value;
    }
}
