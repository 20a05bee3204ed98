//! The union canvas: an image placed at the top left of a larger canvas, its rows padded with
//! zero samples on the right and zero rows below. The padding's figures are the pipeline's to
//! set (a pixel only one image covers counts as changed, one neither covers is not compared),
//! not the engines'.

use crate::decode::{Header, RowSource};
use crate::error::Error;
use crate::pixel::Samples;

/// `inner`'s rows on a canvas of `width` x `height`.
pub struct Padded {
    inner: Box<dyn RowSource>,
    header: Header,
    next_row: u32,
    scratch: Samples,
}

impl Padded {
    pub fn new(inner: Box<dyn RowSource>, width: u32, height: u32) -> Padded {
        let own = inner.header();
        Padded {
            header: Header {
                width,
                height,
                ..own
            },
            scratch: Samples::zeroed(own.layout.depth, 0),
            inner,
            next_row: 0,
        }
    }
}

impl RowSource for Padded {
    fn header(&self) -> Header {
        self.header
    }

    fn decodes_as_read(&self) -> bool {
        self.inner.decodes_as_read()
    }

    fn read_rows(&mut self, rows: u32, dst: &mut Samples) -> Result<(), Error> {
        let own = self.inner.header();
        let depth = self.header.layout.depth;
        dst.reset(depth, 0);
        dst.reset(depth, rows as usize * self.header.row_len());
        let real = rows.min(own.height.saturating_sub(self.next_row));
        if real > 0 {
            self.inner.read_rows(real, &mut self.scratch)?;
            let (from, to) = (own.row_len(), self.header.row_len());
            for r in 0..real as usize {
                let src = r * from..(r + 1) * from;
                match (&mut *dst, &self.scratch) {
                    (Samples::U8(d), Samples::U8(s)) => {
                        d[r * to..r * to + from].copy_from_slice(&s[src])
                    }
                    (Samples::U16(d), Samples::U16(s)) => {
                        d[r * to..r * to + from].copy_from_slice(&s[src])
                    }
                    _ => unreachable!("one depth"),
                }
            }
        }
        self.next_row += rows;
        Ok(())
    }
}
