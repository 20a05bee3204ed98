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
    /// The diff image cannot be written there.
    Output { path: PathBuf, cause: String },
    /// The GPU engine failed, or no adapter was found.
    Gpu(String),
}

impl Error {
    pub(crate) fn decode(path: &Path, cause: impl fmt::Display) -> Error {
        Error::Decode {
            path: path.to_owned(),
            cause: cause.to_string(),
        }
    }

    pub(crate) fn output(path: &Path, cause: impl fmt::Display) -> Error {
        Error::Output {
            path: path.to_owned(),
            cause: cause.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            Error::Output { path, cause } => write!(f, "{}: {cause}", path.display()),
            Error::Gpu(cause) => write!(f, "GPU engine: {cause}"),
        }
    }
}

impl std::error::Error for Error {}
