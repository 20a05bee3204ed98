//! How floating-point samples are compared, defined once for both engines (the GPU's shader
//! follows it step for step, in integer operations on the samples' bits, so that every figure
//! is equal whatever the device does with subnormals):
//!
//! - A sample below 2^-126 in magnitude (subnormal) counts as zero, and -0 as +0.
//! - Both samples NaN: equal. One NaN: the channel is counted in `nan`.
//! - Equal samples (infinities included) differ by 0. An infinite sample against another
//!   value, or two samples at least 2^40 in magnitude that are not equal, count in `inf`.
//! - Otherwise `d = |a - b|`, one correctly rounded `f32` subtraction, flushed to zero below
//!   2^-126. A `d` of 65536 or more counts in `inf` too.
//! - A finite `d` is summed as the integer `floor(d * 2^24)` (so in units of 2^-24: every
//!   half-float value is a whole number of them), and its square as that integer's square.
//!   Sums are exact and so independent of order; 1.0, `ONE` units, is the nominal maximum.
//!
//! Channels counted in `nan` or `inf` add nothing to the sums, but their pixels differ; the
//! diff image holds NaN or infinity for them.

pub(crate) use crate::pixel::FLOAT_ONE as ONE;

/// The bits of a NaN and of +infinity, as the diff image holds them.
pub const NAN_BITS: u32 = 0x7fc0_0000;
pub const INF_BITS: u32 = 0x7f80_0000;
/// 65536.0: differences from here on are counted in `inf`.
const LARGE_BITS: u32 = 0x4780_0000;
/// 2^40: distinct samples from this magnitude on differ by at least 65536.
const HUGE_BITS: u32 = 0x5380_0000;

/// What one channel's two samples give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// A difference below 65536, as `f32` bits (0 when equal).
    Finite(u32),
    Nan,
    Inf,
}

impl Channel {
    /// The difference's bits as the diff image holds them.
    pub fn bits(self) -> u32 {
        match self {
            Channel::Finite(bits) => bits,
            Channel::Nan => NAN_BITS,
            Channel::Inf => INF_BITS,
        }
    }

    /// `floor(d * 2^24)` of a finite difference, 0 otherwise.
    pub fn fixed(self) -> u64 {
        match self {
            Channel::Finite(bits) => (f32::from_bits(bits) * ONE as f32) as u64,
            _ => 0,
        }
    }
}

/// A sample's bits, with subnormals and -0 as +0.
fn flushed(bits: u32) -> u32 {
    if bits & 0x7f80_0000 == 0 { 0 } else { bits }
}

fn is_nan(bits: u32) -> bool {
    bits & 0x7fff_ffff > INF_BITS
}

/// Compares two samples, given as their bits.
pub fn compare(a: u32, b: u32) -> Channel {
    let (a_nan, b_nan) = (is_nan(a), is_nan(b));
    if a_nan || b_nan {
        return if a_nan && b_nan {
            Channel::Finite(0)
        } else {
            Channel::Nan
        };
    }
    let (a, b) = (flushed(a), flushed(b));
    if a == b {
        return Channel::Finite(0);
    }
    if (a & 0x7fff_ffff).max(b & 0x7fff_ffff) >= HUGE_BITS {
        return Channel::Inf;
    }
    let d = flushed((f32::from_bits(a) - f32::from_bits(b)).abs().to_bits());
    if d >= LARGE_BITS {
        Channel::Inf
    } else {
        Channel::Finite(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: f32, b: f32) -> Channel {
        compare(a.to_bits(), b.to_bits())
    }

    #[test]
    fn special_values() {
        assert_eq!(cmp(f32::NAN, f32::NAN), Channel::Finite(0));
        assert_eq!(cmp(f32::NAN, 0.0), Channel::Nan);
        assert_eq!(cmp(1.0, -f32::NAN), Channel::Nan);
        assert_eq!(cmp(f32::INFINITY, f32::INFINITY), Channel::Finite(0));
        assert_eq!(cmp(f32::INFINITY, f32::NEG_INFINITY), Channel::Inf);
        assert_eq!(cmp(f32::INFINITY, 1.0), Channel::Inf);
        assert_eq!(cmp(-0.0, 0.0), Channel::Finite(0));
        // Subnormals are zero, and so is a difference that would be one.
        assert_eq!(cmp(f32::from_bits(1), 0.0), Channel::Finite(0));
        let tiny = f32::MIN_POSITIVE;
        assert_eq!(cmp(tiny * 1.5, tiny), Channel::Finite(0));
        assert_eq!(cmp(65536.0, 0.0), Channel::Inf);
        assert_eq!(cmp(65535.0, 0.0).fixed(), 65535 << 24);
        assert_eq!(cmp(f32::MAX, f32::MAX), Channel::Finite(0));
        assert_eq!(cmp(f32::MAX, -f32::MAX), Channel::Inf);
        assert_eq!(cmp(0.5, 0.25).fixed(), 1 << 22);
        // Below 2^-24 a difference differs but adds nothing.
        assert_eq!(cmp(1e-9, 0.0).fixed(), 0);
        assert_ne!(cmp(1e-9, 0.0), Channel::Finite(0));
    }

    #[test]
    fn distinct_samples_from_2_40_on_differ_by_at_least_65536() {
        // The closest distinct pair at the bound: 2^40 and the float below it.
        let huge = f32::from_bits(HUGE_BITS);
        assert_eq!(huge, 2f32.powi(40));
        assert_eq!(
            huge - f32::from_bits(HUGE_BITS - 1),
            f32::from_bits(LARGE_BITS)
        );
    }
}
