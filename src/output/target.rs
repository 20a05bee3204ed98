//! Where a diff image goes, and how it replaces what is there. The target path is resolved
//! first: symbolic links are followed to the regular file they name (a dangling link, or one
//! into `/dev`, `/proc` or `/sys`, is refused), so the link stays and its file is replaced. The
//! image is written to a temporary file in that file's folder, through a writer that keeps the
//! first write error (encoders that finish in destructors drop theirs), synced, given the mode
//! of the file it replaces (or the umask's), renamed over it, and the folder synced. Temporary
//! files (and the batch report's folders) not yet renamed are listed, so that a signal handler
//! can remove them.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tempfile::NamedTempFile;

use crate::error::Error;
use crate::hooks::{self, Hook};

/// Temporary files and folders not yet in place (of diff images, of a batch report), for
/// `remove_unfinished`.
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The list of unfinished files. Holding it holds off `remove_unfinished`, so that files being
/// put in place are either all in place or all removed.
pub(crate) fn unfinished() -> MutexGuard<'static, Vec<PathBuf>> {
    UNFINISHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes the temporary files and folders of everything still being written, and keeps any
/// other from being put in place: for a signal handler, just before the process ends.
pub fn remove_unfinished() {
    let mut files = unfinished();
    for path in files.drain(..) {
        let _ = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
            _ => std::fs::remove_file(path),
        };
    }
    // Held until the process ends, so no diff image is renamed into place after this.
    std::mem::forget(files);
}

/// The file a diff image replaces, and its temporary file while it is written.
pub(crate) struct Target {
    /// The path as given, for messages.
    shown: PathBuf,
    /// The regular file (or new name) that is replaced: `shown` with its links followed.
    path: PathBuf,
    /// The mode of the file replaced, kept for the new one.
    mode: Option<Permissions>,
    temporary: NamedTempFile,
    listed: Listed,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl Target {
    /// Resolves `shown` and opens a temporary file beside the file it names. Refuses folders,
    /// devices and other files that are not regular, dangling links, links into device or
    /// process file systems, missing folders, and any of `inputs`.
    pub(crate) fn open(shown: &Path, inputs: &[&Path]) -> Result<Target, Error> {
        let refuse = |cause: &dyn std::fmt::Display| Error::output(shown, cause);
        let (path, existing) = resolve(shown).map_err(|cause| refuse(&cause))?;
        if inputs
            .iter()
            .any(|input| same_file::is_same_file(&path, input).unwrap_or(false))
        {
            return Err(refuse(
                &"is one of the input images; refusing to overwrite it",
            ));
        }
        let folder = folder_of(&path);
        let mut builder = tempfile::Builder::new();
        builder.prefix(".diffimg-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // What a new file gets: read and write for all, less the umask.
            builder.permissions(Permissions::from_mode(0o666));
        }
        let (temporary, listed) = Listed::make(|| builder.tempfile_in(folder), NamedTempFile::path)
            .map_err(|e| {
                let cause = io::Error::from(e.kind());
                refuse(&format!("cannot write in {}: {cause}", folder.display()))
            })?;
        Ok(Target {
            shown: shown.to_owned(),
            path,
            mode: existing.map(|meta| meta.permissions()),
            temporary,
            listed,
            error: Arc::default(),
        })
    }

    /// A writer to the temporary file; its errors are also kept for `replace`.
    pub(crate) fn writer(&self) -> Result<Checked, Error> {
        let file = self
            .temporary
            .as_file()
            .try_clone()
            .map_err(|e| self.error(&e))?;
        Ok(Checked::new(file, Arc::clone(&self.error)))
    }

    pub(crate) fn error(&self, cause: &dyn std::fmt::Display) -> Error {
        Error::output(&self.shown, cause)
    }

    /// Puts the temporary file in place of the target, once everything written to it through
    /// `writer` has reached the disk.
    pub(crate) fn replace(self) -> Result<(), Error> {
        if let Some(e) = self.error.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(self.error(&format!("cannot write: {e}")));
        }
        let file = self.temporary.as_file();
        if let Some(mode) = &self.mode {
            file.set_permissions(mode.clone())
                .map_err(|e| self.error(&e))?;
        }
        file.sync_all()
            .map_err(|e| self.error(&format!("cannot write: {e}")))?;
        let Target {
            shown,
            path,
            temporary,
            listed,
            ..
        } = self;
        let unfinished = unfinished();
        temporary
            .persist(&path)
            .map_err(|e| Error::output(&shown, e.error))?;
        drop(unfinished);
        drop(listed);
        // The rename reaches the disk with its folder. Some file systems cannot sync a folder;
        // the image is in place by now either way.
        if let Ok(folder) = File::open(folder_of(&path)) {
            let _ = folder.sync_all();
        }
        Ok(())
    }
}

/// A temporary file's or folder's place in `UNFINISHED`, given up when it is dropped.
pub(crate) struct Listed(PathBuf);

impl Listed {
    /// Makes a temporary file or folder and lists it at `path`, holding the list meanwhile: a
    /// signal's `remove_unfinished` then runs either before it exists or after it is listed,
    /// never in between.
    pub(crate) fn make<T, E>(
        make: impl FnOnce() -> Result<T, E>,
        path: impl FnOnce(&T) -> &Path,
    ) -> Result<(T, Listed), E> {
        let mut list = unfinished();
        let made = make()?;
        let path = path(&made).to_owned();
        list.push(path.clone());
        Ok((made, Listed(path)))
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        unfinished().retain(|p| *p != self.0);
    }
}

/// The folder a file is in: `.` for a bare name.
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Follows `shown`'s symbolic links to the path that is replaced, with the metadata of the
/// regular file there (none for a new file).
fn resolve(shown: &Path) -> Result<(PathBuf, Option<std::fs::Metadata>), String> {
    let mut path = shown.to_owned();
    for _ in 0..40 {
        let folder = folder_of(&path);
        match std::fs::canonicalize(folder) {
            Ok(real)
                if ["/dev", "/proc", "/sys"]
                    .iter()
                    .any(|p| real.starts_with(p)) =>
            {
                return Err(format!(
                    "{} is in {}, not a regular file; name a file to write",
                    path.display(),
                    real.display()
                ));
            }
            Ok(real) if !real.is_dir() => {
                return Err(format!("folder {} is not a folder", folder.display()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!("folder {} does not exist", folder.display()));
            }
            Err(e) => return Err(format!("folder {}: {e}", folder.display())),
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && path != shown => {
                return Err(format!(
                    "is a symbolic link to {}, which does not exist",
                    path.display()
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((path, None)),
            Err(e) => return Err(e.to_string()),
            Ok(meta) => meta,
        };
        if meta.file_type().is_symlink() {
            let link = std::fs::read_link(&path).map_err(|e| e.to_string())?;
            path = folder_of(&path).join(link);
        } else if meta.is_dir() {
            return Err("is a directory".into());
        } else if !meta.is_file() {
            // A device, pipe or socket would be replaced by the file, not written to.
            return Err("is not a regular file".into());
        } else {
            return Ok((path, Some(meta)));
        }
    }
    Err("too many levels of symbolic links".into())
}

/// A file writer that keeps its first error where `Target::replace` finds it.
pub(crate) struct Checked {
    file: File,
    error: Arc<Mutex<Option<io::Error>>>,
    /// Bytes written, for the test hook that fails writes past a size.
    written: u64,
}

impl Checked {
    fn new(file: File, error: Arc<Mutex<Option<io::Error>>>) -> Checked {
        Checked {
            file,
            error,
            written: 0,
        }
    }

    fn keep<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
            slot.get_or_insert_with(|| io::Error::new(e.kind(), e.to_string()));
        }
        result
    }
}

impl Write for Checked {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = if hooks::fire(Hook::Write(self.written + bytes.len() as u64)) {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        } else {
            self.file.write(bytes)
        };
        if let Ok(len) = written {
            self.written += len as u64;
        }
        self.keep(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.file.flush();
        self.keep(flushed)
    }
}
