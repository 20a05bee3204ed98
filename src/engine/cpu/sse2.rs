//! The row kernel for 8-bit samples on x86-64, in SSE2 (which every x86-64 CPU has): sixteen
//! pixels per step, per-channel sums kept in 16-bit lanes and sums of squares in 32-bit ones,
//! widened before they can overflow.

use std::arch::x86_64::{
    __m128i, _mm_add_epi16, _mm_add_epi32, _mm_and_si128, _mm_cmpeq_epi8, _mm_max_epu8,
    _mm_movemask_epi8, _mm_mullo_epi16, _mm_or_si128, _mm_set1_epi16, _mm_setzero_si128,
    _mm_srli_epi16, _mm_subs_epu8, _mm_unpackhi_epi16, _mm_unpacklo_epi16,
};

use bytemuck::{cast, pod_read_unaligned};

use super::RowFigures;

/// Pixels per step: `C` vector registers of 16 samples.
const STEP: usize = 16;

/// Steps whose sums fit a 16-bit lane: 256 * 255 < 65536 (and squares a 32-bit one).
const STEPS_PER_FLUSH: usize = 256;

/// The bytes of a register whose squares each 32-bit lane of `squares[r][q]` adds up: lane `k`
/// of the low and high half of the even bytes, then of the odd bytes.
const fn square_byte(q: usize, k: usize) -> usize {
    2 * k + [0, 8, 1, 9][q]
}

/// The channel of byte `j` of register `r` in a step.
const fn channel<const C: usize>(r: usize, j: usize) -> usize {
    (16 * r + j) % C
}

pub(super) fn row<const C: usize>(a: &[u8], b: &[u8], counted: [bool; C]) -> RowFigures<C> {
    // SAFETY: SSE2 is part of the x86-64 baseline, so every x86-64 CPU runs it.
    unsafe { row_sse2(a, b, counted) }
}

#[target_feature(enable = "sse2")]
fn row_sse2<const C: usize>(a: &[u8], b: &[u8], counted: [bool; C]) -> RowFigures<C> {
    let zero = _mm_setzero_si128();
    let low_bytes = _mm_set1_epi16(0x00FF);
    let counted_bytes: [__m128i; C] = std::array::from_fn(|r| {
        cast(std::array::from_fn::<u8, 16, _>(|j| {
            if counted[channel::<C>(r, j)] { 0xFF } else { 0 }
        }))
    });
    // The first bit of each pixel in a step's mask of differing samples.
    let pixel_starts = (0..STEP).fold(0u64, |m, p| m | 1 << (p * C));

    let mut figures = RowFigures::<C>::default();
    // Per register: the sums of its even and of its odd bytes, and their squares' sums.
    let mut lanes = [[zero; 2]; C];
    let mut squares = [[zero; 4]; C];
    let mut maxes = zero;
    let step_len = STEP * C;
    let steps = a.chunks_exact(step_len).zip(b.chunks_exact(step_len));
    for (s, (sa, sb)) in steps.enumerate() {
        let mut differs = 0u64;
        for r in 0..C {
            let va: __m128i = pod_read_unaligned(&sa[16 * r..16 * r + 16]);
            let vb: __m128i = pod_read_unaligned(&sb[16 * r..16 * r + 16]);
            let d = _mm_or_si128(_mm_subs_epu8(va, vb), _mm_subs_epu8(vb, va));
            let (even, odd) = (_mm_and_si128(d, low_bytes), _mm_srli_epi16::<8>(d));
            lanes[r][0] = _mm_add_epi16(lanes[r][0], even);
            lanes[r][1] = _mm_add_epi16(lanes[r][1], odd);
            // 255 * 255 fits a 16-bit lane; the squares widen to 32 bits as they are added.
            let (even, odd) = (_mm_mullo_epi16(even, even), _mm_mullo_epi16(odd, odd));
            let widened = [
                _mm_unpacklo_epi16(even, zero),
                _mm_unpackhi_epi16(even, zero),
                _mm_unpacklo_epi16(odd, zero),
                _mm_unpackhi_epi16(odd, zero),
            ];
            for (sum, part) in squares[r].iter_mut().zip(widened) {
                *sum = _mm_add_epi32(*sum, part);
            }
            let counted = _mm_and_si128(d, counted_bytes[r]);
            maxes = _mm_max_epu8(maxes, counted);
            let equal = _mm_movemask_epi8(_mm_cmpeq_epi8(counted, zero)) as u64;
            differs |= (!equal & 0xFFFF) << (16 * r);
        }
        let pixels = (1..C).fold(differs, |m, c| m | differs >> c) & pixel_starts;
        if pixels != 0 {
            figures.differing += u64::from(pixels.count_ones());
            let first = s * STEP + pixels.trailing_zeros() as usize / C;
            let last = s * STEP + (63 - pixels.leading_zeros()) as usize / C;
            figures.extend_span(first, last);
        }
        if s % STEPS_PER_FLUSH == STEPS_PER_FLUSH - 1 {
            flush(&mut lanes, &mut squares, &mut figures);
        }
    }
    flush(&mut lanes, &mut squares, &mut figures);
    let maxes: [u8; 16] = cast(maxes);
    figures.max = maxes.into_iter().max().map_or(0, u32::from);

    let done = a.len() / step_len * step_len;
    let rest = a[done..].chunks_exact(C).zip(b[done..].chunks_exact(C));
    for (p, (pa, pb)) in rest.enumerate() {
        let mut any = false;
        for c in 0..C {
            let d = pa[c].abs_diff(pb[c]);
            figures.sums[c] += u64::from(d);
            figures.squares[c] += u64::from(d) * u64::from(d);
            if counted[c] && d != 0 {
                any = true;
                figures.max = figures.max.max(u32::from(d));
            }
        }
        if any {
            figures.differing += 1;
            let x = done / C + p;
            figures.extend_span(x, x);
        }
    }
    figures
}

/// Adds the lanes of sums and of squares to `figures`, by channel, and clears them.
#[target_feature(enable = "sse2")]
fn flush<const C: usize>(
    lanes: &mut [[__m128i; 2]; C],
    squares: &mut [[__m128i; 4]; C],
    figures: &mut RowFigures<C>,
) {
    for (r, halves) in lanes.iter_mut().enumerate() {
        for (odd, lane) in halves.iter_mut().enumerate() {
            let values: [u16; 8] = cast(*lane);
            for (k, v) in values.into_iter().enumerate() {
                figures.sums[channel::<C>(r, 2 * k + odd)] += u64::from(v);
            }
            *lane = _mm_setzero_si128();
        }
    }
    for (r, quarters) in squares.iter_mut().enumerate() {
        for (q, lane) in quarters.iter_mut().enumerate() {
            let values: [u32; 4] = cast(*lane);
            for (k, v) in values.into_iter().enumerate() {
                figures.squares[channel::<C>(r, square_byte(q, k))] += u64::from(v);
            }
            *lane = _mm_setzero_si128();
        }
    }
}
