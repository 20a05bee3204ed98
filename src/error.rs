//! The library's error type: one variant per cause, each naming the file involved.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Error {
    /// An input could not be opened or read.
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// An input is not an image in a supported format, or its data is damaged.
    Decode { path: PathBuf, cause: String },
    /// An input's header claims more pixels than allowed.
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        limit: u64,
    },
    /// The two images differ in size (and resizing was not asked for).
    SizeMismatch {
        a: PathBuf,
        a_size: (u32, u32),
        b: PathBuf,
        b_size: (u32, u32),
    },
    /// Resizing an image would hold more bytes than the pixel limit allows.
    ResizeBudget {
        path: PathBuf,
        from: (u32, u32),
        to: (u32, u32),
        bytes: u64,
        budget: u64,
    },
    /// The diff image cannot be written there.
    Output { path: PathBuf, cause: String },
    /// The GPU engine failed, or no adapter was found.
    Gpu(String),
    /// A folder, pair list or shard output of a batch run cannot be used; `what` names it
    /// (and the line, for a list).
    Input { what: String, cause: String },
}

impl Error {
    pub(crate) fn read(path: &Path, cause: std::io::Error) -> Error {
        Error::Read {
            path: path.to_owned(),
            cause,
        }
    }

    pub(crate) fn decode(path: &Path, cause: impl fmt::Display) -> Error {
        Error::Decode {
            path: path.to_owned(),
            cause: cause.to_string(),
        }
    }

    pub(crate) fn input(what: impl fmt::Display, cause: impl fmt::Display) -> Error {
        Error::Input {
            what: what.to_string(),
            cause: cause.to_string(),
        }
    }

    /// A decoder panicked on the file at `path`.
    pub(crate) fn crashed(path: &Path) -> Error {
        Error::decode(path, "the decoder crashed on this file")
    }

    pub(crate) fn output(path: &Path, cause: impl fmt::Display) -> Error {
        Error::Output {
            path: path.to_owned(),
            cause: cause.to_string(),
        }
    }
}

impl Error {
    /// The message, possibly over several lines as some causes (wgpu's) come.
    fn message(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            Error::Read { path, cause } => write!(f, "{}: {cause}", path.display()),
            Error::Decode { path, cause } => write!(f, "{}: {cause}", path.display()),
            Error::TooLarge {
                path,
                width,
                height,
                limit,
            } => write!(
                f,
                "{}: image of {width}x{height} pixels exceeds the limit of {limit} pixels \
                 (raise it with --max-pixels)",
                path.display()
            ),
            Error::SizeMismatch {
                a,
                a_size,
                b,
                b_size,
            } => write!(
                f,
                "images differ in size: {} is {}x{}, {} is {}x{} (use --resize to compare anyway)",
                a.display(),
                a_size.0,
                a_size.1,
                b.display(),
                b_size.0,
                b_size.1
            ),
            Error::ResizeBudget {
                path,
                from,
                to,
                bytes,
                budget,
            } => write!(
                f,
                "{}: resizing it from {}x{} to {}x{} would hold {bytes} bytes, over the {budget} \
                 bytes that the pixel limit allows (raise it with --max-pixels)",
                path.display(),
                from.0,
                from.1,
                to.0,
                to.1
            ),
            Error::Output { path, cause } => write!(f, "{}: {cause}", path.display()),
            Error::Gpu(cause) => write!(f, "GPU engine: {cause}"),
            Error::Input { what, cause } => write!(f, "{what}: {cause}"),
        }
    }
}

impl fmt::Display for Error {
    /// One line: the lines of a multi-line cause are joined with "; ".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.message(&mut text)?;
        let lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "Caused by:");
        for (i, line) in lines.enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(line)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_over_several_lines_print_on_one() {
        let error =
            Error::Gpu("Validation Error\n\nCaused by:\n  In create_buffer\n    too big\n".into());
        assert_eq!(
            error.to_string(),
            "GPU engine: Validation Error; In create_buffer; too big"
        );
    }
}
