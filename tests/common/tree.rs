//! Folders of generated images for the batch tests: pairs that are byte-identical, pixel-equal
//! but encoded differently, changed, and files on one side only.

use std::path::{Path, PathBuf};

use diffimg::{Layout, Samples};
use serde_json::Value;

use super::{command, perturb, random_samples, write_png};

pub const WIDTH: u32 = 48;
pub const HEIGHT: u32 = 32;

/// A generated pair of folders `a` and `b` under `root`.
pub struct Tree {
    pub root: PathBuf,
    pub a: PathBuf,
    pub b: PathBuf,
}

impl Tree {
    pub fn new(root: &Path) -> Tree {
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        Tree {
            root: root.to_owned(),
            a,
            b,
        }
    }

    fn samples(seed: u64) -> Samples {
        let mut rng = fastrand::Rng::with_seed(seed);
        random_samples(&mut rng, (WIDTH * HEIGHT * 4) as usize, false)
    }

    fn write(path: &Path, samples: &Samples) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_png(path, WIDTH, HEIGHT, Layout::RGBA8, samples);
    }

    /// The same file on both sides.
    pub fn same(&self, name: &str, seed: u64) {
        Tree::write(&self.a.join(name), &Tree::samples(seed));
        let copy = self.b.join(name);
        std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
        std::fs::copy(self.a.join(name), copy).unwrap();
    }

    /// The same pixels, encoded differently (uncompressed on the b side).
    pub fn reencoded(&self, name: &str, seed: u64) {
        let samples = Tree::samples(seed);
        Tree::write(&self.a.join(name), &samples);
        let path = self.b.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        let mut encoder = png::Encoder::new(file, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_compression(png::Compression::NoCompression);
        let mut writer = encoder.write_header().unwrap();
        if let Samples::U8(bytes) = &samples {
            writer.write_image_data(bytes).unwrap();
        }
        writer.finish().unwrap();
    }

    /// Different pixels: about one sample in `every` changed.
    pub fn changed(&self, name: &str, seed: u64, every: usize) {
        let samples = Tree::samples(seed);
        let mut rng = fastrand::Rng::with_seed(seed + 1000);
        Tree::write(&self.a.join(name), &samples);
        Tree::write(&self.b.join(name), &perturb(&mut rng, &samples, every));
    }

    /// An image on the a side only (`removed`) or the b side only (`added`).
    pub fn one_side(&self, side: &Path, name: &str, seed: u64) {
        Tree::write(&side.join(name), &Tree::samples(seed));
    }
}

/// The JSON lines of a run: the records, and the summary (a shard's header left out).
pub fn lines(stdout: &[u8]) -> (Vec<Value>, Value) {
    let text = String::from_utf8_lossy(stdout);
    let mut records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|r: &Value| r.get("shard").is_none())
        .collect();
    let summary = records.pop().expect("a summary line");
    assert!(summary.get("summary").is_some(), "last line: {summary}");
    assert!(records.iter().all(|r| r.get("status").is_some()));
    (records, summary["summary"].clone())
}

/// Records by name.
pub fn by_name(records: &[Value]) -> std::collections::BTreeMap<String, Value> {
    records
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// Runs `diffimg` with `args` and returns its output.
pub fn run(args: &[&std::ffi::OsStr]) -> std::process::Output {
    command()
        .args(args)
        .output()
        .expect("the diffimg binary runs")
}
