//! The library's error type: one variant per cause, each naming the file involved.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a comparison could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An input could not be opened or read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
    /// An input is not an image in a supported format, or its data is damaged.
    Decode {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// An input's header claims more pixels than allowed.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Width its header claims.
        width: u32,
        /// Height its header claims.
        height: u32,
        /// The pixel limit it is over.
        limit: u64,
    },
    /// The two images differ in size (and resizing was not asked for).
    SizeMismatch {
        /// Image 1.
        a: PathBuf,
        /// Image 1's (width, height).
        a_size: (u32, u32),
        /// Image 2.
        b: PathBuf,
        /// Image 2's (width, height).
        b_size: (u32, u32),
    },
    /// Resizing an image would hold more bytes than the pixel limit allows.
    ResizeBudget {
        /// The image to resize.
        path: PathBuf,
        /// Its (width, height).
        from: (u32, u32),
        /// The (width, height) asked for.
        to: (u32, u32),
        /// Bytes resizing would hold.
        bytes: u64,
        /// Bytes allowed.
        budget: u64,
    },
    /// The diff image cannot be written there.
    Output {
        /// The diff image's path.
        path: PathBuf,
        /// Why it cannot be written.
        cause: String,
    },
    /// The GPU engine failed, or no adapter was found.
    Gpu(String),
    /// A folder, pair list or shard output of a batch run cannot be used; `what` names it
    /// (and the line, for a list).
    Input {
        /// The folder, list or file, and the line.
        what: String,
        /// What is wrong with it.
        cause: String,
    },
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
