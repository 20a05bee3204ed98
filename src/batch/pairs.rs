//! Which pairs a batch run compares: files paired by relative path in two folders, or pairs
//! read from a JSON-lines list.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::lines::{LIST_LINE_CAP, Lines};
use super::name::Name;
use crate::error::Error;

/// Two files to compare under one name; a missing side is an added or removed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The relative path (folders) or the list's name, with `/` between folders.
    pub name: Name,
    /// Image 1, `None` when only the second folder has the name.
    pub a: Option<PathBuf>,
    /// Image 2, `None` when only the first folder has the name.
    pub b: Option<PathBuf>,
}

/// The pairs of a run, sorted by name, and the names of the files left out.
#[derive(Clone, Debug, Default)]
pub struct PairSet {
    /// The pairs, in name order.
    pub pairs: Vec<Pair>,
    /// Files that are not images (by extension), and links that lead out of their tree or to
    /// a folder.
    pub skipped: Vec<Name>,
}

/// Extensions of the formats diffimg reads.
const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "pnm", "pbm", "pgm", "ppm", "pam",
    "qoi", "tga", "exr",
];

/// Whether `name` has the extension of an image format diffimg reads.
fn is_image_name(name: &Path) -> bool {
    name.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Pairs the images under `a` and `b` by relative path.
pub fn from_folders(a: &Path, b: &Path) -> Result<PairSet, Error> {
    let (mut skipped, mut files) = (Vec::new(), [BTreeMap::new(), BTreeMap::new()]);
    for (root, found) in [a, b].into_iter().zip(&mut files) {
        let tree = Tree::new(root)?;
        tree.walk(root, found, &mut skipped)?;
    }
    let [mut in_a, in_b] = files;
    let mut pairs = Vec::new();
    for (name, b) in in_b {
        let a = in_a.remove(&name);
        pairs.push(Pair {
            name,
            a,
            b: Some(b),
        });
    }
    pairs.extend(in_a.into_iter().map(|(name, a)| Pair {
        name,
        a: Some(a),
        b: None,
    }));
    pairs.sort_by(|x, y| x.name.cmp(&y.name));
    skipped.sort();
    skipped.dedup();
    Ok(PairSet { pairs, skipped })
}

/// A folder being walked, and its real path, which links must stay under.
struct Tree {
    root: PathBuf,
    real_root: PathBuf,
}

impl Tree {
    fn new(root: &Path) -> Result<Tree, Error> {
        let real_root = root
            .canonicalize()
            .map_err(|e| Error::input(root.display(), e))?;
        if !real_root.is_dir() {
            return Err(Error::input(root.display(), "is not a folder"));
        }
        Ok(Tree {
            root: root.to_owned(),
            real_root,
        })
    }

    /// Adds the images under `dir` to `found` by relative name, and others to `skipped`.
    fn walk(
        &self,
        dir: &Path,
        found: &mut BTreeMap<Name, PathBuf>,
        skipped: &mut Vec<Name>,
    ) -> Result<(), Error> {
        let unreadable = |e: std::io::Error| Error::input(dir.display(), e);
        let mut entries = std::fs::read_dir(dir)
            .map_err(unreadable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable)?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = self.name(&path);
            let kind = entry.file_type().map_err(unreadable)?;
            if kind.is_dir() {
                self.walk(&path, found, skipped)?;
            } else if kind.is_symlink() && !self.links_to_file_inside(&path) {
                skipped.push(name);
            } else if is_image_name(&path) {
                found.insert(name, path);
            } else {
                skipped.push(name);
            }
        }
        Ok(())
    }

    /// Whether the link at `path` resolves to a file inside the tree. Links to folders are not
    /// followed: they could loop.
    fn links_to_file_inside(&self, path: &Path) -> bool {
        path.canonicalize()
            .is_ok_and(|real| real.starts_with(&self.real_root) && real.is_file())
    }

    /// `path` relative to the root, its bytes as they are, with `/` between folders.
    fn name(&self, path: &Path) -> Name {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let parts: Vec<_> = relative
            .components()
            .map(|c| c.as_os_str().as_encoded_bytes())
            .collect();
        Name::new(parts.join(&b'/'))
    }
}

/// One line of a pair list.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a JSON object {\"a\": PATH, \"b\": PATH, \"name\": NAME}"
)]
struct ListLine {
    a: String,
    b: String,
    name: Option<String>,
    /// The name in hex, for names that are not UTF-8.
    name_bytes: Option<String>,
}

impl ListLine {
    /// The pair's name: `name_bytes`, else `name`, else the path `a`. When both are given,
    /// `name` must be `name_bytes` as text.
    fn name(&self) -> Result<Name, String> {
        match (&self.name_bytes, &self.name) {
            (Some(hex), text) => {
                let name = Name::from_hex(hex)?;
                match text {
                    Some(text) if *text != name.lossy() => {
                        Err(format!("name '{text}' is not name_bytes '{hex}' as text"))
                    }
                    _ => Ok(name),
                }
            }
            (None, text) => Ok(Name::from(text.clone().unwrap_or_else(|| self.a.clone()))),
        }
    }
}

/// Reads a pair list: one JSON object a line, `{"a": PATH, "b": PATH, "name": NAME}` (or
/// `"name_bytes": HEX`), each line at most 1 MiB, blank lines ignored.
/// Relative paths are taken from `base`; `list` is what errors call the list.
pub fn from_list(reader: impl BufRead, list: &str, base: &Path) -> Result<PairSet, Error> {
    let mut pairs = Vec::new();
    let mut lines_of: HashMap<Name, String> = HashMap::new();
    let mut lines = Lines::new(reader, list, LIST_LINE_CAP);
    while let Some((at, line)) = lines.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ListLine = serde_json::from_str(line).map_err(|e| {
            let message = e.to_string();
            let cause = message.split(" at line ").next().unwrap_or(&message);
            Error::input(&at, format!("{cause} (column {})", e.column()))
        })?;
        let name = parsed.name().map_err(|cause| Error::input(&at, cause))?;
        if name.as_bytes().is_empty() || parsed.a.is_empty() || parsed.b.is_empty() {
            return Err(Error::input(&at, "empty name or path"));
        }
        if let Some(first) = lines_of.insert(name.clone(), at.clone()) {
            let cause = format!("name '{name}' is already used on {first}");
            return Err(Error::input(&at, cause));
        }
        pairs.push(Pair {
            name,
            a: Some(base.join(parsed.a)),
            b: Some(base.join(parsed.b)),
        });
    }
    Ok(PairSet {
        pairs,
        skipped: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_errors_name_the_line() {
        let list = "{\"a\": \"x.png\", \"b\": \"y.png\"}\n\n{\"a\": \"z.png\"}\n";
        let error = from_list(list.as_bytes(), "l.jsonl", Path::new(".")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "l.jsonl:3: missing field `b` (column 14)"
        );
        let twice = "{\"a\": \"x.png\", \"b\": \"y.png\"}\n{\"a\": \"x.png\", \"b\": \"z.png\"}";
        let error = from_list(twice.as_bytes(), "l", Path::new(".")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("l:2: name 'x.png' is already used on l:1"),
            "{error}"
        );
    }

    #[test]
    fn list_paths_are_relative_to_its_folder() {
        let list = "{\"a\": \"x.png\", \"b\": \"/abs/y.png\", \"name\": \"n\"}";
        let set = from_list(list.as_bytes(), "l", Path::new("base")).unwrap();
        assert_eq!(set.pairs[0].a.as_deref(), Some(Path::new("base/x.png")));
        assert_eq!(set.pairs[0].b.as_deref(), Some(Path::new("/abs/y.png")));
        assert_eq!(set.pairs[0].name.as_bytes(), b"n");
    }
}
