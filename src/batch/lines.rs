//! JSON lines read one at a time, each refused past a cap on its length, so that one huge line
//! cannot take memory in proportion to it.

use std::io::{BufRead, Read};

use crate::error::Error;

/// The longest line of a pair list: 1 MiB.
pub const LIST_LINE_CAP: usize = 1 << 20;

/// The longest line of a shard's output: 16 MiB (a record holds a list line's name and paths,
/// some of them twice).
pub const RECORD_LINE_CAP: usize = 16 << 20;

/// The lines of `reader`, numbered from 1; `what` is what errors call it.
pub struct Lines<R> {
    reader: R,
    what: String,
    cap: usize,
    number: usize,
    line: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R, what: &str, cap: usize) -> Lines<R> {
        Lines {
            reader,
            what: what.to_owned(),
            cap,
            number: 0,
            line: Vec::new(),
        }
    }

    /// Where the last line read is: `what:number`.
    fn at(&self) -> String {
        format!("{}:{}", self.what, self.number)
    }

    /// The next line without its line end, and where it is (`what:number`); `None` at the end
    /// of the input.
    pub fn next_line(&mut self) -> Result<Option<(String, &str)>, Error> {
        self.line.clear();
        self.number += 1;
        let limit = self.cap as u64 + 1;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .map_err(|e| Error::input(self.at(), e))?;
        if read == 0 {
            return Ok(None);
        }
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        } else if self.line.len() > self.cap {
            let cause = format!("line is longer than {} MiB", self.cap >> 20);
            return Err(Error::input(self.at(), cause));
        }
        let at = self.at();
        match std::str::from_utf8(&self.line) {
            Ok(text) => Ok(Some((at, text))),
            Err(e) => Err(Error::input(self.at(), format!("not UTF-8: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_up_to_the_cap_pass_and_longer_ones_are_refused() {
        let mut lines = Lines::new("abcd\nabcde\n".as_bytes(), "l", 4);
        assert_eq!(lines.next_line().unwrap(), Some(("l:1".into(), "abcd")));
        let error = lines.next_line().unwrap_err();
        assert!(error.to_string().starts_with("l:2: line is longer than"));
        let mut lines = Lines::new("ab\r\nabcd".as_bytes(), "l", 4);
        assert_eq!(lines.next_line().unwrap(), Some(("l:1".into(), "ab")));
        assert_eq!(lines.next_line().unwrap(), Some(("l:2".into(), "abcd")));
        assert_eq!(lines.next_line().unwrap(), None);
    }
}
