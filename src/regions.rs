//! The 8-connected regions of a changed-pixel mask, labelled as the rows stream by.
//!
//! [`Regions`] takes the mask a band of rows at a time, top to bottom, and keeps only what
//! the next row needs: the runs of changed pixels of the last row, a union-find forest over
//! the regions those runs belong to, and the [`MAX_BOXES`] largest regions finished so far.
//! A region is finished, counted and ranked as soon as a row holds none of its pixels, so
//! memory stays proportional to the width whatever the height or the number of regions.
//!
//! Each row is first packed into a bitmap (eight mask bytes at a time), runs are read off the
//! bitmap's transitions, and each run is joined to the runs of the row above that touch it,
//! diagonally included. A row equal to the one above continues every region as it is.
//!
//! Regions rank by pixel count (largest first), then by the top-left corner of their
//! bounding box (`y`, then `x`), then by the column of their first pixel in raster order,
//! which no two regions share; so the summary does not depend on how the rows were split.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The most regions a [`RegionSummary`] lists.
pub const MAX_BOXES: usize = 100;

/// The bounding box and size of one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegionBox {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Changed pixels in the region (not the box's area).
    pub pixels: u64,
}

/// Every region counted, the largest 100 listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegionSummary {
    /// Regions counted.
    pub count: u64,
    /// Largest first; ties by `y`, then `x`.
    pub boxes: Vec<RegionBox>,
    /// More than 100 regions: only the largest are in `boxes`.
    pub truncated: bool,
}

/// A run of changed pixels `start..end` in one row, and the label of its region.
#[derive(Clone, Copy)]
struct Run {
    start: u32,
    end: u32,
    label: u32,
}

/// A region's figures so far, kept at its union-find root.
#[derive(Clone, Copy)]
struct Node {
    /// Columns `x0..x1` and first row of the bounding box.
    x0: u32,
    x1: u32,
    y0: u64,
    /// Column of the region's first pixel in raster order (in row `y0`).
    first_x: u32,
    pixels: u64,
    /// The last row whose runs were found to belong to this root.
    seen: u64,
}

/// A finished region, ordered so that the greatest is the one to drop first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Ranked {
    key: (Reverse<u64>, u64, u32, u32),
    width: u32,
    height: u64,
}

impl Ranked {
    fn to_box(self) -> RegionBox {
        let (Reverse(pixels), y, x, _) = self.key;
        RegionBox {
            x,
            y: u32::try_from(y).unwrap_or(u32::MAX),
            width: self.width,
            height: u32::try_from(self.height).unwrap_or(u32::MAX),
            pixels,
        }
    }
}

/// Streaming 8-connected region labeller; see the module documentation.
pub struct Regions {
    width: u32,
    /// Index of the next row.
    row: u64,
    /// The packed bitmap of the row being labelled and of the one above it.
    bits: Vec<u64>,
    prev_bits: Vec<u64>,
    /// Runs of the row above (labels all roots between rows) and of the current row.
    prev: Vec<Run>,
    cur: Vec<Run>,
    /// Indices of the runs above that no run of the current row touches: only their regions
    /// can end with the row above.
    untouched: Vec<u32>,
    forest: Forest,
    /// The start of a row that a call to `add_rows` left incomplete.
    pending: Vec<u8>,
    count: u64,
    top: BinaryHeap<Ranked>,
}

impl Regions {
    /// A labeller for rows of `width` pixels.
    pub fn new(width: u32) -> Regions {
        let words = (width as usize).div_ceil(64);
        Regions {
            width,
            row: 0,
            bits: vec![0; words],
            prev_bits: vec![0; words],
            prev: Vec::new(),
            cur: Vec::new(),
            untouched: Vec::new(),
            forest: Forest::default(),
            pending: Vec::new(),
            count: 0,
            top: BinaryHeap::with_capacity(MAX_BOXES + 1),
        }
    }

    /// Feeds the next rows of the changed mask, top to bottom: `mask.len()` is a whole number
    /// of rows of `width` bytes, nonzero = changed. (A trailing part row is kept and completed
    /// by the next call; [`finish`](Self::finish) pads it with unchanged pixels.)
    pub fn add_rows(&mut self, mut mask: &[u8]) {
        let width = self.width as usize;
        if width == 0 {
            return;
        }
        if !self.pending.is_empty() {
            let need = width - self.pending.len();
            if mask.len() < need {
                self.pending.extend_from_slice(mask);
                return;
            }
            let (head, rest) = mask.split_at(need);
            let mut row = std::mem::take(&mut self.pending);
            row.extend_from_slice(head);
            self.add_row(&row);
            row.clear();
            self.pending = row;
            mask = rest;
        }
        let mut rows = mask.chunks_exact(width);
        for row in &mut rows {
            self.add_row(row);
        }
        self.pending.extend_from_slice(rows.remainder());
    }

    /// Feeds `rows` rows without a changed pixel, as `add_rows` would but without a mask.
    pub fn add_unchanged_rows(&mut self, rows: u64) {
        if !self.pending.is_empty() {
            let mask = vec![0; rows as usize * self.width as usize];
            return self.add_rows(&mask);
        }
        if rows == 0 || self.width == 0 {
            return;
        }
        // The first ends every region open; the others find nothing above them.
        self.close_empty_row();
        self.prev_bits.fill(0);
        self.row += rows - 1;
    }

    /// Feeds `rows` more copies of the last row fed, in time per run of that row: after
    /// whole rows only (no part row pending).
    pub fn repeat_last_row(&mut self, rows: u64) {
        debug_assert!(self.pending.is_empty(), "whole rows only");
        if self.prev.is_empty() {
            return self.add_unchanged_rows(rows);
        }
        for run in &self.prev {
            self.forest.nodes[run.label as usize].pixels += u64::from(run.end - run.start) * rows;
        }
        self.row += rows;
    }

    /// Finishes the regions still open and returns the summary.
    pub fn finish(mut self) -> RegionSummary {
        if !self.pending.is_empty() {
            let mut row = std::mem::take(&mut self.pending);
            row.resize(self.width as usize, 0);
            self.add_row(&row);
        }
        // An empty row below the last one ends every region.
        self.close_empty_row();
        let truncated = self.count > MAX_BOXES as u64;
        let boxes = self
            .top
            .into_sorted_vec()
            .into_iter()
            .map(Ranked::to_box)
            .collect();
        RegionSummary {
            count: self.count,
            boxes,
            truncated,
        }
    }

    fn add_row(&mut self, row: &[u8]) {
        let any = pack_row(row, &mut self.bits);
        if any && self.bits == self.prev_bits {
            // The same runs as the row above: every region goes on, none joins another.
            for run in &self.prev {
                self.forest.nodes[run.label as usize].pixels += u64::from(run.end - run.start);
            }
            self.row += 1;
            return;
        }
        if any {
            self.cur.clear();
            self.untouched.clear();
            runs_of(&self.bits, self.width, &mut self.cur);
            self.join_runs();
            self.close_row();
        } else {
            self.close_empty_row();
        }
        std::mem::swap(&mut self.bits, &mut self.prev_bits);
    }

    /// Ends a row with no changed pixel: no region goes on past the row above.
    fn close_empty_row(&mut self) {
        self.cur.clear();
        self.untouched.clear();
        self.untouched.extend(0..self.prev.len() as u32);
        self.close_row();
    }

    /// Labels each run of the current row, joining the regions of the runs above it that
    /// touch it (8-connected: `above.start <= run.end && above.end >= run.start`), marking
    /// their roots seen in this row and listing the runs above that no run touches.
    fn join_runs(&mut self) {
        let Regions {
            prev,
            cur,
            untouched,
            forest,
            row,
            ..
        } = self;
        let (prev, row): (&[Run], u64) = (prev, *row);
        // Runs above before `first` cannot touch this run or later ones; those before
        // `covered` touched an earlier one.
        let (mut first, mut covered) = (0, 0);
        for run in cur.iter_mut() {
            let (start, end) = (run.start, run.end);
            while let Some(above) = prev.get(first)
                && above.end < start
            {
                if first >= covered {
                    untouched.push(first as u32);
                }
                first += 1;
            }
            let mut root = None;
            let mut next = first;
            for above in prev.iter().skip(first) {
                if above.start > end {
                    break;
                }
                let r = forest.find(above.label);
                root = Some(match root {
                    Some(root) if root != r => forest.union(root, r),
                    _ => r,
                });
                next += 1;
            }
            covered = covered.max(next);
            run.label = match root {
                Some(root) => {
                    let node = &mut forest.nodes[root as usize];
                    node.x0 = node.x0.min(start);
                    node.x1 = node.x1.max(end);
                    node.pixels += u64::from(end - start);
                    node.seen = row;
                    root
                }
                None => forest.alloc(Node {
                    x0: start,
                    x1: end,
                    y0: row,
                    first_x: start,
                    pixels: u64::from(end - start),
                    seen: row,
                }),
            };
        }
        untouched.extend(first.max(covered) as u32..prev.len() as u32);
    }

    /// Ends the current row: resolves its labels to roots, finishes the regions of the row
    /// above that it does not continue (every region the row continues has its root marked
    /// seen in this row), and makes it the row above.
    fn close_row(&mut self) {
        let row = self.row;
        let forest = &mut self.forest;
        // Without a merge in this row, every label is still a root.
        let merged = !forest.merged.is_empty();
        if merged {
            for run in &mut self.cur {
                run.label = forest.find(run.label);
            }
        }
        for &i in &self.untouched {
            let label = self.prev[i as usize].label;
            let root = if merged { forest.find(label) } else { label };
            let node = &mut forest.nodes[root as usize];
            if node.seen != row {
                node.seen = row;
                let node = *node;
                forest.free.push(root);
                self.count += 1;
                keep_largest(&mut self.top, &node, row);
            }
        }
        let Forest { free, merged, .. } = forest;
        free.append(merged);
        std::mem::swap(&mut self.prev, &mut self.cur);
        self.row += 1;
    }

    /// Union-find nodes allocated so far (alive or free): the labeller's working memory.
    #[cfg(test)]
    fn node_slots(&self) -> usize {
        self.forest.nodes.len()
    }
}

/// Offers a region finished before row `row` to the bounded heap of the largest.
fn keep_largest(top: &mut BinaryHeap<Ranked>, node: &Node, row: u64) {
    let ranked = Ranked {
        key: (Reverse(node.pixels), node.y0, node.x0, node.first_x),
        width: node.x1 - node.x0,
        height: row - node.y0,
    };
    if top.len() < MAX_BOXES {
        top.push(ranked);
    } else if let Some(mut worst) = top.peek_mut()
        && ranked < *worst
    {
        *worst = ranked;
    }
}

/// A union-find forest over region labels, with each region's figures at its root.
#[derive(Default)]
struct Forest {
    /// A root is its own parent.
    parent: Vec<u32>,
    nodes: Vec<Node>,
    /// Labels free for reuse.
    free: Vec<u32>,
    /// Labels that stopped being roots during the current row.
    merged: Vec<u32>,
}

impl Forest {
    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(label) => {
                self.parent[label as usize] = label;
                self.nodes[label as usize] = node;
                label
            }
            None => {
                // At most two rows of runs are alive, so the count fits the width's type.
                let label = self.nodes.len() as u32;
                self.parent.push(label);
                self.nodes.push(node);
                label
            }
        }
    }

    /// The root of `label`'s tree, compressing the path to it.
    fn find(&mut self, label: u32) -> u32 {
        let parent = &mut self.parent;
        let mut root = label;
        while parent[root as usize] != root {
            root = parent[root as usize];
        }
        let mut at = label;
        while at != root {
            let next = parent[at as usize];
            parent[at as usize] = root;
            at = next;
        }
        root
    }

    /// Makes root `other` a child of root `root`, folding its figures in; returns `root`.
    fn union(&mut self, root: u32, other: u32) -> u32 {
        self.parent[other as usize] = root;
        self.merged.push(other);
        let b = self.nodes[other as usize];
        let a = &mut self.nodes[root as usize];
        a.x0 = a.x0.min(b.x0);
        a.x1 = a.x1.max(b.x1);
        if (b.y0, b.first_x) < (a.y0, a.first_x) {
            a.y0 = b.y0;
            a.first_x = b.first_x;
        }
        a.pixels += b.pixels;
        root
    }
}

/// Packs a row into bits (bit `i % 64` of word `i / 64` set when byte `i` is nonzero);
/// returns whether any is set. Bits past the row's end are left clear.
fn pack_row(row: &[u8], bits: &mut [u64]) -> bool {
    let (blocks, tail) = row.as_chunks::<64>();
    let mut any = 0;
    for (word, block) in bits.iter_mut().zip(blocks) {
        let (lanes, _) = block.as_chunks::<8>();
        let mut w = 0;
        for (k, lane) in lanes.iter().enumerate() {
            w |= nonzero_bytes(u64::from_le_bytes(*lane)) << (8 * k);
        }
        *word = w;
        any |= w;
    }
    if !tail.is_empty()
        && let Some(word) = bits.get_mut(blocks.len())
    {
        let mut w = 0;
        for (k, &byte) in tail.iter().enumerate() {
            w |= u64::from(byte != 0) << k;
        }
        *word = w;
        any |= w;
    }
    any != 0
}

/// Eight bits, bit `k` set when byte `k` (little-endian) of `v` is nonzero.
fn nonzero_bytes(v: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // Per byte: the high bit is set when the byte is nonzero; no carry crosses bytes.
    let high = (((v & LOW7) + LOW7) | v) & !LOW7;
    // Gathers the eight high bits into the top byte (each partial product lands apart).
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// Appends the runs of set bits of a packed row of `width` bits, left to right.
fn runs_of(bits: &[u64], width: u32, runs: &mut Vec<Run>) {
    let mut carry = 0;
    let mut open = None;
    for (i, &w) in bits.iter().enumerate() {
        // Set where a bit differs from the one before it: runs start and end there.
        let mut edges = w ^ ((w << 1) | carry);
        carry = w >> 63;
        // The word starts below `width`, so its first column fits in a u32.
        let base = (i * 64) as u32;
        while edges != 0 {
            let at = base + edges.trailing_zeros();
            match open.take() {
                None => open = Some(at),
                Some(start) => runs.push(Run {
                    start,
                    end: at,
                    label: 0,
                }),
            }
            edges &= edges - 1;
        }
    }
    if let Some(start) = open {
        runs.push(Run {
            start,
            end: width,
            label: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regions by flood fill over the whole mask, ranked as the labeller ranks them.
    fn flood(mask: &[u8], width: usize, height: usize) -> RegionSummary {
        let mut seen = vec![false; mask.len()];
        let mut found = Vec::new();
        let mut stack = Vec::new();
        for start in 0..mask.len() {
            if mask[start] == 0 || seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let (mut x0, mut x1, mut y0, mut y1) = (usize::MAX, 0, usize::MAX, 0);
            let mut pixels = 0u64;
            while let Some(at) = stack.pop() {
                let (x, y) = (at % width, at / width);
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
                pixels += 1;
                for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                        let n = ny * width + nx;
                        if mask[n] != 0 && !seen[n] {
                            seen[n] = true;
                            stack.push(n);
                        }
                    }
                }
            }
            let first_x = start % width;
            let b = RegionBox {
                x: x0 as u32,
                y: y0 as u32,
                width: (x1 - x0 + 1) as u32,
                height: (y1 - y0 + 1) as u32,
                pixels,
            };
            found.push((Reverse(pixels), y0, x0, first_x, b));
        }
        found.sort_by_key(|f| (f.0, f.1, f.2, f.3));
        RegionSummary {
            count: found.len() as u64,
            truncated: found.len() > MAX_BOXES,
            boxes: found.iter().take(MAX_BOXES).map(|f| f.4).collect(),
        }
    }

    fn label(mask: &[u8], width: usize) -> RegionSummary {
        let mut regions = Regions::new(width as u32);
        regions.add_rows(mask);
        regions.finish()
    }

    /// Feeds the mask in pieces of random lengths (part rows included), some pieces of
    /// unchanged rows through `add_unchanged_rows`.
    fn label_in_pieces(mask: &[u8], width: usize, rng: &mut fastrand::Rng) -> RegionSummary {
        let mut regions = Regions::new(width as u32);
        let mut at = 0;
        while at < mask.len() {
            let len = match rng.u8(0..4) {
                0 => rng.usize(0..=width),
                1 => width * rng.usize(1..=3),
                _ => rng.usize(0..=mask.len() - at),
            };
            let end = (at + len).min(mask.len());
            let piece = &mask[at..end];
            if piece.len().is_multiple_of(width) && !piece.iter().any(|&c| c != 0) && rng.bool() {
                regions.add_unchanged_rows((piece.len() / width) as u64);
            } else {
                regions.add_rows(piece);
            }
            at = end;
        }
        regions.finish()
    }

    /// A random mask: each row independent noise at `density`, or (with `repeat`) a copy of
    /// the row above; changed bytes take any nonzero value.
    fn random_mask(
        rng: &mut fastrand::Rng,
        w: usize,
        h: usize,
        density: f64,
        repeat: f64,
    ) -> Vec<u8> {
        let mut mask = vec![0u8; w * h];
        for y in 0..h {
            if y > 0 && rng.f64() < repeat {
                mask.copy_within((y - 1) * w..y * w, y * w);
                continue;
            }
            for v in &mut mask[y * w..(y + 1) * w] {
                if rng.f64() < density {
                    *v = match rng.u8(0..4) {
                        0 => 1,
                        1 => 0x80,
                        2 => 0xff,
                        _ => rng.u8(1..=255),
                    };
                }
            }
        }
        mask
    }

    #[test]
    fn random_masks_match_flood_fill() {
        let mut rng = fastrand::Rng::with_seed(0x4e61);
        let sizes = [
            (1, 1),
            (1, 40),
            (40, 1),
            (2, 2),
            (3, 17),
            (7, 7),
            (8, 9),
            (63, 20),
            (64, 21),
            (65, 22),
            (127, 30),
            (128, 13),
            (200, 90),
            (333, 41),
        ];
        let densities = [0.0, 0.02, 0.1, 0.3, 0.45, 0.6, 0.85, 0.97, 1.0];
        for &(w, h) in &sizes {
            for &density in &densities {
                for repeat in [0.0, 0.6] {
                    let mask = random_mask(&mut rng, w, h, density, repeat);
                    let want = flood(&mask, w, h);
                    let got = label(&mask, w);
                    assert_eq!(got, want, "{w}x{h} density {density} repeat {repeat}");
                    let split = label_in_pieces(&mask, w, &mut rng);
                    assert_eq!(split, want, "{w}x{h} density {density}, split");
                }
            }
        }
    }

    #[test]
    fn blobs_match_flood_fill_whatever_the_split() {
        // Filled rectangles and diagonal strokes: regions that merge and end at many rows.
        let mut rng = fastrand::Rng::with_seed(77);
        for round in 0..40 {
            let (w, h) = (rng.usize(1..150), rng.usize(1..150));
            let mut mask = vec![0u8; w * h];
            for _ in 0..rng.usize(0..30) {
                let (x, y) = (rng.usize(0..w), rng.usize(0..h));
                let (rw, rh) = (rng.usize(1..=w - x), rng.usize(1..=h - y));
                let diagonal = rng.bool();
                for dy in 0..rh {
                    for dx in 0..rw {
                        if !diagonal || dx == dy || dx + dy == rw - 1 {
                            mask[(y + dy) * w + x + dx] = 1;
                        }
                    }
                }
            }
            let want = flood(&mask, w, h);
            assert_eq!(label(&mask, w), want, "round {round}");
            for _ in 0..3 {
                assert_eq!(label_in_pieces(&mask, w, &mut rng), want, "round {round}");
            }
        }
    }

    #[test]
    fn repeating_a_row_is_adding_its_copies() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..50 {
            let (w, h) = (rng.usize(1..40), rng.usize(1..12));
            let mask = random_mask(&mut rng, w, h, 0.4, 0.3);
            let copies = rng.usize(0..5);
            let mut whole = mask.clone();
            for _ in 0..copies {
                whole.extend_from_within((h - 1) * w..h * w);
            }
            let mut regions = Regions::new(w as u32);
            regions.add_rows(&mask);
            regions.repeat_last_row(copies as u64);
            assert_eq!(regions.finish(), flood(&whole, w, h + copies));
        }
    }

    #[test]
    fn bytes_are_packed_as_nonzero_bits() {
        for v in 0..=255u8 {
            for k in 0..8 {
                let mut lane = [0u8; 8];
                lane[k] = v;
                let want = u64::from(v != 0) << k;
                assert_eq!(nonzero_bytes(u64::from_le_bytes(lane)), want, "{v} at {k}");
            }
        }
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..1000 {
            let lane: [u8; 8] = std::array::from_fn(|_| if rng.bool() { 0 } else { rng.u8(..) });
            let want = (0..8).fold(0, |w, k| w | u64::from(lane[k] != 0) << k);
            assert_eq!(nonzero_bytes(u64::from_le_bytes(lane)), want);
        }
    }

    #[test]
    fn diagonal_neighbours_join() {
        // A checkerboard is one region under 8-connectivity.
        let (w, h) = (9, 6);
        let mask: Vec<u8> = (0..w * h)
            .map(|i| u8::from((i % w + i / w) % 2 == 0))
            .collect();
        let got = label(&mask, w);
        assert_eq!(got.count, 1);
        let b = got.boxes[0];
        assert_eq!((b.x, b.y, b.width, b.height), (0, 0, w as u32, h as u32));
        assert_eq!(b.pixels, 27);
        // Both diagonals of a square, crossing in the middle.
        let n = 7;
        let mut cross = vec![0u8; n * n];
        for i in 0..n {
            cross[i * n + i] = 1;
            cross[i * n + n - 1 - i] = 1;
        }
        let got = label(&cross, n);
        assert_eq!(got.count, 1);
        assert_eq!(got.boxes[0].pixels, 2 * n as u64 - 1);
        // An anti-diagonal stroke only: its runs meet at corners, row after row.
        let mut anti = vec![0u8; n * n];
        for i in 0..n {
            anti[i * n + n - 1 - i] = 1;
        }
        assert_eq!(label(&anti, n).count, 1);
    }

    #[test]
    fn u_shape_joins_at_the_bottom() {
        let (w, h) = (12, 10);
        let mut mask = vec![0u8; w * h];
        for y in 0..h {
            mask[y * w + 2] = 1;
            mask[y * w + 3] = 1;
            mask[y * w + 9] = 1;
        }
        for x in 2..=9 {
            mask[(h - 1) * w + x] = 1;
        }
        let got = label(&mask, w);
        let want = RegionBox {
            x: 2,
            y: 0,
            width: 8,
            height: h as u32,
            pixels: 3 * (h as u64 - 1) + 8,
        };
        assert_eq!(got.count, 1);
        assert_eq!(got.boxes, vec![want]);
        // Until the bottom row, the arms are two regions.
        assert_eq!(label(&mask[..(h - 1) * w], w).count, 2);
        // A comb: many teeth joined by its back, fed one row at a time.
        let mut comb = vec![0u8; 40 * 8];
        for y in 0..8 {
            for x in (0..40).step_by(2) {
                comb[y * 40 + x] = 1;
            }
        }
        comb[7 * 40..].fill(1);
        let mut regions = Regions::new(40);
        for row in comb.chunks(40) {
            regions.add_rows(row);
        }
        let got = regions.finish();
        assert_eq!(got, flood(&comb, 40, 8));
        assert_eq!(got.count, 1);
    }

    #[test]
    fn more_than_max_boxes_is_truncated() {
        // Isolated pixels on every other row and column: 30 x 10 regions of one pixel.
        let (w, h) = (60, 20);
        let mask: Vec<u8> = (0..w * h)
            .map(|i| u8::from(i % w % 2 == 0 && i / w % 2 == 0))
            .collect();
        let got = label(&mask, w);
        assert_eq!(got.count, 300);
        assert!(got.truncated);
        assert_eq!(got.boxes.len(), MAX_BOXES);
        // Equal sizes rank by y, then x: the first three rows of dots.
        for (i, b) in got.boxes.iter().enumerate() {
            let want = ((i % 30) * 2, (i / 30) * 2);
            assert_eq!((b.x as usize, b.y as usize, b.pixels), (want.0, want.1, 1));
        }
        // One larger region found last still ranks first.
        let mut bigger = mask.clone();
        bigger[(h - 1) * w + 1] = 1;
        let got = label(&bigger, w);
        assert_eq!(got.count, 299);
        assert_eq!(got.boxes[0].pixels, 3);
        assert_eq!((got.boxes[0].x, got.boxes[0].y), (0, 18));
        // Exactly MAX_BOXES regions is not truncated.
        let exact = &mask[..w * 7];
        let got = label(exact, w);
        assert_eq!((got.count, got.truncated), (120, true));
        let got = label(&mask[..w * 5], w);
        assert_eq!((got.count, got.truncated, got.boxes.len()), (90, false, 90));
        let mut hundred = mask[..w * 7].to_vec();
        hundred[w * 6 + 20..].fill(0);
        let got = label(&hundred, w);
        assert_eq!(
            (got.count, got.truncated, got.boxes.len()),
            (100, false, 100)
        );
    }

    #[test]
    fn equal_size_and_corner_rank_by_first_pixel() {
        // A triangle in the corner (10 pixels) and, around it without touching, a diagonal
        // with a tail along the top (10 pixels): both boxes start at (0, 0).
        let w = 12;
        let mut mask = vec![0u8; w * 8];
        for y in 0..8 {
            for x in 0..w {
                let triangle = x + y <= 3;
                let diagonal = x + y == 6 || (y == 0 && (7..=9).contains(&x));
                mask[y * w + x] = u8::from(triangle || diagonal);
            }
        }
        let got = label(&mask, w);
        let boxes: Vec<_> = got
            .boxes
            .iter()
            .map(|b| (b.x, b.y, b.width, b.height, b.pixels))
            .collect();
        assert_eq!(boxes, vec![(0, 0, 4, 4, 10), (0, 0, 10, 7, 10)]);
        assert_eq!(got, flood(&mask, w, 8));
    }

    #[test]
    fn memory_stays_bounded() {
        // Millions of single-pixel regions and a percolating noise mask: the union-find never
        // holds more than two rows of runs.
        let w = 256;
        let mut regions = Regions::new(w as u32);
        let mut row = vec![0u8; w];
        for y in 0..20_000 {
            for (x, v) in row.iter_mut().enumerate() {
                *v = u8::from(x % 2 == 0 && y % 2 == 0);
            }
            regions.add_rows(&row);
            assert!(
                regions.node_slots() <= w + 2,
                "row {y}: {}",
                regions.node_slots()
            );
            assert!(regions.top.len() <= MAX_BOXES);
        }
        let got = regions.finish();
        assert_eq!(got.count, 128 * 10_000);
        let mut rng = fastrand::Rng::with_seed(3);
        let mut regions = Regions::new(w as u32);
        for _ in 0..5_000 {
            for v in &mut row {
                *v = u8::from(rng.f64() < 0.85);
            }
            regions.add_rows(&row);
            assert!(regions.node_slots() <= w + 2);
        }
        assert!(regions.finish().count >= 1);
    }

    #[test]
    fn empty_and_degenerate_masks() {
        assert_eq!(label(&[], 5), flood(&[], 5, 0));
        assert_eq!(label(&[0; 30], 5).count, 0);
        let got = label(&[1], 1);
        assert_eq!(
            got.boxes,
            vec![RegionBox {
                x: 0,
                y: 0,
                width: 1,
                height: 1,
                pixels: 1
            }]
        );
        // Width 0: any number of empty rows, no region.
        let mut regions = Regions::new(0);
        regions.add_rows(&[]);
        assert_eq!(regions.finish().count, 0);
        // A part row left at the end counts, padded with unchanged pixels.
        let mut regions = Regions::new(4);
        regions.add_rows(&[0, 0, 0, 0, 0, 1]);
        let got = regions.finish();
        assert_eq!(got.count, 1);
        assert_eq!((got.boxes[0].x, got.boxes[0].y), (1, 1));
    }
}
