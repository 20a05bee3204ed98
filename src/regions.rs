//! 8-connected regions of changed pixels, labelled row by row as bands stream.

use serde::Serialize;

pub const MAX_BOXES: usize = 100;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RegionSummary {
    pub count: u64,
    pub boxes: Vec<RegionBox>,
    pub truncated: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RegionBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub pixels: u64,
}

pub struct Regions {
    width: usize,
    y: u32,
    parent: Vec<usize>,
    boxes: Vec<RegionBox>,
    previous: Vec<usize>,
}

const NONE: usize = usize::MAX;

impl Regions {
    pub fn new(width: u32) -> Regions {
        Regions {
            width: width as usize,
            y: 0,
            parent: Vec::new(),
            boxes: Vec::new(),
            previous: vec![NONE; width as usize],
        }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    pub fn add_rows(&mut self, mask: &[u8]) {
        for row in mask.chunks_exact(self.width.max(1)) {
            let mut current = vec![NONE; self.width];
            for x in 0..self.width {
                if row[x] == 0 {
                    continue;
                }
                let mut label = NONE;
                let neighbours = [
                    (x > 0).then(|| current[x - 1]),
                    (x > 0).then(|| self.previous[x - 1]),
                    Some(self.previous[x]),
                    (x + 1 < self.width).then(|| self.previous[x + 1]),
                ];
                for n in neighbours.into_iter().flatten().filter(|&n| n != NONE) {
                    let n = self.find(n);
                    if label == NONE {
                        label = n;
                    } else if n != label {
                        self.parent[n] = label;
                        let (a, b) = (self.boxes[n], self.boxes[label]);
                        let x0 = a.x.min(b.x);
                        let y0 = a.y.min(b.y);
                        let x1 = (a.x + a.width).max(b.x + b.width);
                        let y1 = (a.y + a.height).max(b.y + b.height);
                        self.boxes[label] = RegionBox {
                            x: x0,
                            y: y0,
                            width: x1 - x0,
                            height: y1 - y0,
                            pixels: a.pixels + b.pixels,
                        };
                    }
                }
                if label == NONE {
                    label = self.parent.len();
                    self.parent.push(label);
                    self.boxes.push(RegionBox {
                        x: x as u32,
                        y: self.y,
                        width: 1,
                        height: 1,
                        pixels: 0,
                    });
                }
                let b = &mut self.boxes[label];
                let x0 = b.x.min(x as u32);
                let x1 = (b.x + b.width).max(x as u32 + 1);
                b.x = x0;
                b.width = x1 - x0;
                b.height = self.y + 1 - b.y;
                b.pixels += 1;
                current[x] = label;
            }
            self.previous = current;
            self.y += 1;
        }
    }

    pub fn finish(mut self) -> RegionSummary {
        let roots: Vec<usize> = (0..self.parent.len())
            .filter(|&i| self.find(i) == i)
            .collect();
        let mut boxes: Vec<RegionBox> = roots.iter().map(|&r| self.boxes[r]).collect();
        boxes.sort_by_key(|b| (std::cmp::Reverse(b.pixels), b.y, b.x));
        let count = boxes.len() as u64;
        boxes.truncate(MAX_BOXES);
        RegionSummary {
            count,
            boxes,
            truncated: count > MAX_BOXES as u64,
        }
    }
}
