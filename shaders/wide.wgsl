// Integer arithmetic wider than 32 bits, which WGSL lacks, shared by the kernels: the host
// puts this file before each kernel's own shader.

// The 64-bit product of two words: low and high words.
fn mul_wide(x: u32, y: u32) -> vec2<u32> {
    let x0 = x & 0xffffu;
    let x1 = x >> 16u;
    let y0 = y & 0xffffu;
    let y1 = y >> 16u;
    let p00 = x0 * y0;
    let p01 = x0 * y1;
    let p10 = x1 * y0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let low = (p00 & 0xffffu) | (mid << 16u);
    return vec2<u32>(low, x1 * y1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

