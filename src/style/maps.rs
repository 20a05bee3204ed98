//! The render metrics' diff images: FLIP per pixel through the magma colour map that FLIP's
//! reference tool draws with (`flip`), and 1 - SSIM through the same map (`ssim`, SSIM of 1 or
//! more black, 0 or less the brightest); or, into a floating-point format, the values
//! themselves as one channel (OpenEXR, TIFF): FLIP, or SSIM (the mean over colour channels).

use crate::metrics::ssim::SsimPool;
use crate::pixel::{Depth, Samples};

/// matplotlib's magma as 8-bit RGB, written by `make_magma.py`.
const MAGMA: &[u8; 768] = include_bytes!("magma.rgb");

/// The magma colours, as the styles' palette.
pub(super) fn magma() -> Vec<[u8; 4]> {
    MAGMA
        .as_chunks::<3>()
        .0
        .iter()
        .map(|&[r, g, b]| [r, g, b, 255])
        .collect()
}

/// The palette index of `v` from 0 to 1: entry `int(v * 255 + 0.5)`, as the reference tool
/// picks it.
fn index(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// Draws a band's FLIP values into `out`: palette indices, or with `floats` the values.
pub(crate) fn draw_flip(values: &[f32], floats: bool, out: &mut Samples) {
    if floats {
        *out = Samples::F32(values.to_vec());
        return;
    }
    out.reset(Depth::Eight, values.len());
    let Samples::U8(out) = out else {
        unreachable!("reset to 8 bits");
    };
    for (px, &v) in out.iter_mut().zip(values) {
        *px = index(v);
    }
}

/// Draws a band's SSIM values (`[pixel][channel]`, its rows starting at row `y`) into `out`:
/// palette indices of 1 - SSIM, or with `floats` the SSIM; pixels without a whole window in
/// the image (within 5 of an edge) are drawn as SSIM 1.
pub(crate) fn draw_ssim(values: &[f32], y: u32, pool: &SsimPool, floats: bool, out: &mut Samples) {
    let (width, channels) = (pool.width() as usize, pool.channels());
    let pixels = values.len() / channels;
    let ssim = |i: usize| -> f32 {
        let (px, py) = ((i % width) as u32, y + (i / width) as u32);
        if !pool.inside(px, py) {
            return 1.0;
        }
        let pixel = &values[i * channels..(i + 1) * channels];
        (pixel.iter().map(|&v| f64::from(v)).sum::<f64>() / channels as f64) as f32
    };
    if floats {
        *out = Samples::F32((0..pixels).map(ssim).collect());
        return;
    }
    out.reset(Depth::Eight, pixels);
    let Samples::U8(out) = out else {
        unreachable!("reset to 8 bits");
    };
    for (i, px) in out.iter_mut().enumerate() {
        *px = index(1.0 - ssim(i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magma_runs_from_black_to_pale_yellow() {
        let colours = magma();
        assert_eq!(colours.len(), 256);
        assert_eq!(colours[0], [0, 0, 4, 255]);
        // matplotlib's last magma entry, (0.987053, 0.991438, 0.749504).
        assert_eq!(colours[255], [252, 253, 191, 255]);
        let lightness = |c: [u8; 4]| u32::from(c[0]) + u32::from(c[1]) + u32::from(c[2]);
        assert!(
            colours
                .windows(2)
                .all(|w| lightness(w[0]) <= lightness(w[1]) + 1)
        );
    }

    #[test]
    fn values_pick_the_nearest_of_256_entries() {
        let mut out = Samples::zeroed(Depth::Eight, 0);
        draw_flip(&[0.0, 0.5, 1.0, 1.0 / 510.0, 1.5 / 255.0], false, &mut out);
        assert_eq!(out, Samples::U8(vec![0, 128, 255, 1, 2]));
        draw_flip(&[0.25], true, &mut out);
        assert_eq!(out, Samples::F32(vec![0.25]));
    }

    #[test]
    fn ssim_edges_are_drawn_as_one() {
        let pool = SsimPool::new(11, 11, 1);
        let values = vec![0.5f32; 121];
        let mut out = Samples::zeroed(Depth::Eight, 0);
        draw_ssim(&values, 0, &pool, true, &mut out);
        let Samples::F32(v) = &out else { panic!() };
        assert_eq!(v[60], 0.5);
        assert_eq!(v.iter().filter(|&&s| s == 1.0).count(), 120);
        draw_ssim(&values, 0, &pool, false, &mut out);
        let Samples::U8(v) = &out else { panic!() };
        assert_eq!((v[60], v[0]), (128, 0));
    }
}
