//! The diff folder of a batch run, kept apart from the inputs: it may not be, hold or lie in a
//! folder the pairs come from, nor hold an input file, so that no diff image lands on an input
//! and no input is taken for an old diff image. It is checked, and made, before the run.

use std::collections::HashSet;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::pairs::Pair;
use crate::error::Error;
use crate::output::folder_of;

/// Checks `dir` against the inputs and makes it; returns its real path. The inputs are
/// `folders` (where the pairs were found) and the folder of each pair's files; a file reached
/// through a link counts by where it really is.
pub(super) fn prepare(dir: &Path, folders: &[PathBuf], pairs: &[Pair]) -> Result<PathBuf, Error> {
    let refuse = |cause: &dyn std::fmt::Display| Error::input(dir.display(), cause);
    if std::fs::metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
        return Err(refuse(&"exists and is not a folder"));
    }
    let real = real_path(dir).map_err(|e| refuse(&e))?;
    let files: Vec<&PathBuf> = pairs.iter().flat_map(|p| [&p.a, &p.b]).flatten().collect();
    let mut seen = HashSet::new();
    let file_folders = files
        .iter()
        .map(|f| folder_of(f))
        .filter(|f| seen.insert(*f));
    for folder in folders.iter().map(PathBuf::as_path).chain(file_folders) {
        let Ok(input) = folder.canonicalize() else {
            continue;
        };
        let how = if input == real {
            "is"
        } else if real.starts_with(&input) {
            "lies in"
        } else if input.starts_with(&real) {
            "holds"
        } else {
            continue;
        };
        let folder = folder.display();
        return Err(refuse(&format!(
            "{how} the input folder {folder}; diff images need a folder apart from the inputs"
        )));
    }
    let linked = files
        .iter()
        .filter(|f| std::fs::symlink_metadata(f).is_ok_and(|m| m.file_type().is_symlink()));
    for file in linked {
        if file
            .canonicalize()
            .is_ok_and(|input| input.starts_with(&real))
        {
            return Err(refuse(&format!(
                "holds the input image {} (through a link); diff images need a folder apart \
                 from the inputs",
                file.display()
            )));
        }
    }
    std::fs::create_dir_all(&real)
        .and_then(|()| real.canonicalize())
        .map_err(|e| refuse(&e))
}

/// `path` made absolute with its links followed, for a path that may not exist yet: its
/// longest existing part resolved, the rest added as written.
fn real_path(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let parts: Vec<Component> = absolute.components().collect();
    let mut existing = parts.len();
    let mut real = loop {
        match parts[..existing].iter().collect::<PathBuf>().canonicalize() {
            Ok(real) => break real,
            Err(e) if e.kind() == io::ErrorKind::NotFound && existing > 1 => existing -= 1,
            Err(e) => return Err(e),
        }
    };
    for part in &parts[existing..] {
        match part {
            Component::ParentDir => {
                real.pop();
            }
            Component::Normal(name) => real.push(name),
            _ => {}
        }
    }
    Ok(real)
}
