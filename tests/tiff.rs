//! TIFF read by strips and tiles: files of every layout written here byte by byte (classic and
//! BigTIFF, either byte order, strips and tiles, chunky and planar, uncompressed and Deflate,
//! plus LZW and PackBits from the `tiff` crate's encoder) give the same figures as PNGs of the
//! same pixels; damaged and forged chunk tables are refused in little memory, naming the rows.

mod common;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{assert_error, diffimg, diffimg_bounded, diffimg_with_rss, stderr, stdout, write_png};
use diffimg::internals::ReportInternals;
use diffimg::{Backend, Depth, Layout, Options, Samples};

/// How a test TIFF is laid out.
#[derive(Clone, Copy, Debug)]
struct Arrangement {
    /// Tiles of this size, or strips of `chunk.1` rows.
    tiles: bool,
    chunk: (u32, u32),
    planar: bool,
    big: bool,
    big_endian: bool,
    deflate: bool,
}

const ARRANGEMENTS: [Arrangement; 4] = [
    Arrangement {
        tiles: false,
        chunk: (0, 5),
        planar: false,
        big: false,
        big_endian: false,
        deflate: false,
    },
    Arrangement {
        tiles: true,
        chunk: (16, 16),
        planar: true,
        big: true,
        big_endian: true,
        deflate: true,
    },
    Arrangement {
        tiles: false,
        chunk: (0, 1),
        planar: true,
        big: false,
        big_endian: true,
        deflate: true,
    },
    Arrangement {
        tiles: true,
        chunk: (32, 16),
        planar: false,
        big: true,
        big_endian: false,
        deflate: false,
    },
];

/// An image to write: `samples` (16-bit values, or 8-bit ones in a u16) in `layout`.
struct Image {
    width: u32,
    height: u32,
    layout: Layout,
    samples: Vec<u16>,
}

impl Image {
    fn random(rng: &mut fastrand::Rng, width: u32, height: u32, layout: Layout) -> Image {
        let len = (width * height) as usize * layout.channels as usize;
        let max = layout.depth.max_value() as u16;
        Image {
            width,
            height,
            layout,
            samples: (0..len).map(|_| rng.u16(..=max)).collect(),
        }
    }

    /// A copy with about one sample in `every` changed.
    fn edited(&self, rng: &mut fastrand::Rng, every: usize) -> Image {
        let max = self.layout.depth.max_value() as u16;
        let samples = self
            .samples
            .iter()
            .map(|&s| {
                if rng.usize(..every) == 0 {
                    rng.u16(..=max)
                } else {
                    s
                }
            })
            .collect();
        Image { samples, ..*self }
    }

    fn as_samples(&self) -> Samples {
        match self.layout.depth {
            Depth::Eight => Samples::U8(self.samples.iter().map(|&s| s as u8).collect()),
            Depth::Sixteen => Samples::U16(self.samples.clone()),
            Depth::Float => unreachable!("integer images only (floats: tests/float.rs)"),
        }
    }

    fn write_png(&self, path: &Path) {
        write_png(
            path,
            self.width,
            self.height,
            self.layout,
            &self.as_samples(),
        );
    }

    /// The file's bytes as a TIFF in `a`.
    fn tiff(&self, a: Arrangement) -> Vec<u8> {
        let channels = self.layout.channels as usize;
        let bytes = self.layout.depth.bits() as usize / 8;
        let (cw, ch) = if a.tiles {
            a.chunk
        } else {
            (self.width, a.chunk.1)
        };
        let (across, down) = (self.width.div_ceil(cw), self.height.div_ceil(ch));
        let planes = if a.planar { channels } else { 1 };
        let per_pixel = channels / planes;
        let mut chunks = Vec::new();
        for plane in 0..planes {
            for row in 0..down {
                for column in 0..across {
                    // Tiles are whole (padded past the image); the last strip is shorter.
                    let rows = if a.tiles {
                        ch
                    } else {
                        ch.min(self.height - row * ch)
                    };
                    let mut data = Vec::new();
                    for y in row * ch..row * ch + rows {
                        for x in column * cw..column * cw + cw {
                            for c in 0..per_pixel {
                                let inside = x < self.width && y < self.height;
                                let i = (y * self.width + x) as usize * channels + plane + c;
                                let v = if inside { self.samples[i] } else { 0 };
                                let v = v.to_le_bytes();
                                let v = match (bytes, a.big_endian) {
                                    (1, _) => vec![v[0]],
                                    (_, false) => vec![v[0], v[1]],
                                    (_, true) => vec![v[1], v[0]],
                                };
                                data.extend(v);
                            }
                        }
                    }
                    if a.deflate {
                        let mut z = flate2::write::ZlibEncoder::new(
                            Vec::new(),
                            flate2::Compression::fast(),
                        );
                        z.write_all(&data).unwrap();
                        data = z.finish().unwrap();
                    }
                    chunks.push(data);
                }
            }
        }
        let photometric = match (self.layout.cmyk, channels) {
            (true, _) => 5,
            (_, 1 | 2) => 1,
            _ => 2,
        };
        let mut tags: Vec<(u16, Vec<u64>)> = vec![
            (256, vec![self.width.into()]),
            (257, vec![self.height.into()]),
            (258, vec![(bytes * 8) as u64; channels]),
            (259, vec![if a.deflate { 8 } else { 1 }]),
            (262, vec![photometric]),
            (277, vec![channels as u64]),
            (284, vec![if a.planar { 2 } else { 1 }]),
        ];
        if self.layout.has_alpha() {
            tags.push((338, vec![2]));
        }
        write_tiff(a, &mut tags, &chunks)
    }
}

/// Assembles a TIFF: header, then `chunks`, then the IFD with `tags` and the chunk tables
/// (`tags` gets the chunk tags added; values are LONG for sizes, LONG or LONG8 for offsets
/// and counts, SHORT for the rest).
fn write_tiff(a: Arrangement, tags: &mut Vec<(u16, Vec<u64>)>, chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut file = Vec::new();
    let put16 = |f: &mut Vec<u8>, v: u16| {
        f.extend(if a.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let put32 = |f: &mut Vec<u8>, v: u32| {
        f.extend(if a.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let put64 = |f: &mut Vec<u8>, v: u64| {
        f.extend(if a.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    file.extend(if a.big_endian { b"MM" } else { b"II" });
    let ifd_at_patch;
    if a.big {
        put16(&mut file, 43);
        put16(&mut file, 8);
        put16(&mut file, 0);
        ifd_at_patch = file.len();
        put64(&mut file, 0);
    } else {
        put16(&mut file, 42);
        ifd_at_patch = file.len();
        put32(&mut file, 0);
    }
    let mut offsets = Vec::new();
    for chunk in chunks {
        offsets.push(file.len() as u64);
        file.extend(chunk);
    }
    let counts = chunks.iter().map(|c| c.len() as u64).collect();
    let (offsets_tag, counts_tag) = if a.tiles { (324, 325) } else { (273, 279) };
    if a.tiles {
        tags.push((322, vec![a.chunk.0.into()]));
        tags.push((323, vec![a.chunk.1.into()]));
    } else {
        tags.push((278, vec![a.chunk.1.into()]));
    }
    tags.push((offsets_tag, offsets));
    tags.push((counts_tag, counts));
    tags.sort_by_key(|t| t.0);
    if file.len() % 2 == 1 {
        file.push(0);
    }
    let ifd_at = file.len() as u64;
    let patch = ifd_at.to_le_bytes();
    let patch: Vec<u8> = match (a.big, a.big_endian) {
        (true, false) => patch.to_vec(),
        (true, true) => ifd_at.to_be_bytes().to_vec(),
        (false, false) => (ifd_at as u32).to_le_bytes().to_vec(),
        (false, true) => (ifd_at as u32).to_be_bytes().to_vec(),
    };
    file[ifd_at_patch..ifd_at_patch + patch.len()].copy_from_slice(&patch);
    let entry = if a.big { 20 } else { 12 };
    let head = if a.big { 8 } else { 2 };
    let tail = if a.big { 8 } else { 4 };
    let mut extra_at = ifd_at as usize + head + entry * tags.len() + tail;
    let mut extra = Vec::new();
    if a.big {
        put64(&mut file, tags.len() as u64);
    } else {
        put16(&mut file, tags.len() as u16);
    }
    for (tag, values) in tags.iter() {
        let wide = matches!(tag, 273 | 279 | 324 | 325);
        let (kind, size) = match (wide, a.big) {
            _ if matches!(tag, 256 | 257 | 278) => (4u16, 4),
            (false, _) => (3, 2),
            (true, false) => (4, 4),
            (true, true) => (16, 8),
        };
        put16(&mut file, *tag);
        put16(&mut file, kind);
        if a.big {
            put64(&mut file, values.len() as u64);
        } else {
            put32(&mut file, values.len() as u32);
        }
        let mut data = Vec::new();
        for &v in values {
            match size {
                2 => put16(&mut data, v as u16),
                4 => put32(&mut data, v as u32),
                _ => put64(&mut data, v),
            }
        }
        let slot = if a.big { 8 } else { 4 };
        if data.len() <= slot {
            data.resize(slot, 0);
            file.extend(data);
        } else {
            if a.big {
                put64(&mut file, extra_at as u64);
            } else {
                put32(&mut file, extra_at as u32);
            }
            extra_at += data.len();
            extra.extend(data);
        }
    }
    if a.big {
        put64(&mut file, 0);
    } else {
        put32(&mut file, 0);
    }
    file.extend(extra);
    file
}

const LAYOUTS: [Layout; 10] = [
    Layout::L8,
    Layout::LA8,
    Layout::RGB8,
    Layout::RGBA8,
    Layout::L16,
    Layout::LA16,
    Layout::RGB16,
    Layout::RGBA16,
    Layout::CMYK8,
    Layout::CMYK16,
];

fn json(args: &[&OsStr]) -> serde_json::Value {
    let out = diffimg(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Every layout in every arrangement: no difference from the PNG of the same pixels (CMYK:
/// from the same pixels in the plainest arrangement), and a pair gives the PNG pair's figures
/// (CMYK: the sum worked out here).
#[test]
fn every_layout_and_arrangement_reads_its_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(10);
    for layout in LAYOUTS {
        let a = Image::random(&mut rng, 37, 29, layout);
        let b = a.edited(&mut rng, 7);
        let reference = if layout.cmyk {
            let (pa, pb) = (a.tiff(ARRANGEMENTS[0]), b.tiff(ARRANGEMENTS[0]));
            [
                write(dir.path(), "a0.tiff", &pa),
                write(dir.path(), "b0.tiff", &pb),
            ]
        } else {
            let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
            a.write_png(&pa);
            b.write_png(&pb);
            [pa, pb]
        };
        let pair = json(&[
            reference[0].as_os_str(),
            reference[1].as_os_str(),
            "--json".as_ref(),
        ]);
        if layout.cmyk {
            let sum: u64 = a
                .samples
                .iter()
                .zip(&b.samples)
                .map(|(&x, &y)| u64::from(x.abs_diff(y)))
                .sum();
            assert_eq!(pair["sum"], sum, "{layout}");
        }
        for (n, arrangement) in ARRANGEMENTS.into_iter().enumerate() {
            let what = format!("{layout} {arrangement:?}");
            let ta = write(dir.path(), &format!("a{n}.tiff"), &a.tiff(arrangement));
            let tb = write(dir.path(), &format!("b{n}.tiff"), &b.tiff(arrangement));
            let same = json(&[ta.as_os_str(), reference[0].as_os_str(), "--json".as_ref()]);
            assert_eq!(same["sum"], 0, "{what}");
            assert_eq!(same["channels"], layout.channels, "{what}");
            assert_eq!(same["bit_depth"], layout.depth.bits(), "{what}");
            let tiffs = json(&[ta.as_os_str(), tb.as_os_str(), "--json".as_ref()]);
            assert_eq!(tiffs["sum"], pair["sum"], "{what}");
            assert_eq!(tiffs["ratio"], pair["ratio"], "{what}");
        }
    }
}

/// LZW and PackBits strips (written by the `tiff` crate's encoder, classic and BigTIFF).
#[test]
fn lzw_and_packbits() {
    use tiff::encoder::{Compression, TiffEncoder, colortype::RGB8};
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    let image = Image::random(&mut rng, 45, 33, Layout::RGB8);
    let png = dir.path().join("ref.png");
    image.write_png(&png);
    let data: Vec<u8> = image.samples.iter().map(|&s| s as u8).collect();
    for (name, compression, big) in [
        ("lzw", Compression::Lzw, false),
        ("packbits", Compression::Packbits, true),
    ] {
        let path = dir.path().join(format!("{name}.tiff"));
        let file = std::fs::File::create(&path).unwrap();
        if big {
            let mut encoder = TiffEncoder::new_big(file)
                .unwrap()
                .with_compression(compression);
            encoder.write_image::<RGB8>(45, 33, &data).unwrap();
        } else {
            let mut encoder = TiffEncoder::new(file)
                .unwrap()
                .with_compression(compression);
            encoder.write_image::<RGB8>(45, 33, &data).unwrap();
        }
        let same = json(&[path.as_os_str(), png.as_os_str(), "--json".as_ref()]);
        assert_eq!(same["sum"], 0, "{name}");
    }
}

/// Bands of one pixel, of a row and a bit, and of the whole image, through tiles whose rows do
/// not line up with them, read from files (by workers) and from memory (in turn): equal sums.
#[test]
fn band_borders_and_chunk_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(12);
    let a = Image::random(&mut rng, 53, 71, Layout::RGBA16);
    let b = a.edited(&mut rng, 5);
    let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
    a.write_png(&pa);
    b.write_png(&pb);
    let cpu = |band_pixels| Options {
        backend: Backend::Cpu,
        band_pixels,
        ..Default::default()
    };
    let expected = *diffimg::compare(&pa, &pb, &cpu(1 << 17)).unwrap().stats();
    for arrangement in ARRANGEMENTS {
        let ta = write(dir.path(), "a.tiff", &a.tiff(arrangement));
        let tb = write(dir.path(), "b.tiff", &b.tiff(arrangement));
        let bytes = [std::fs::read(&ta).unwrap(), std::fs::read(&tb).unwrap()];
        for band_pixels in [1, 60, 53 * 17, 1 << 20] {
            let files = *diffimg::compare(&ta, &tb, &cpu(band_pixels))
                .unwrap()
                .stats();
            assert_eq!(files, expected, "{arrangement:?}, bands of {band_pixels}");
            let memory = diffimg::compare_bytes(&bytes[0], &bytes[1], &cpu(band_pixels));
            assert_eq!(
                *memory.unwrap().stats(),
                expected,
                "{arrangement:?} in memory"
            );
        }
    }
}

/// Peak memory a refused file may cost.
const SMALL: u64 = 64 << 20;

/// Runs diffimg on `path` against itself and checks it is refused in little memory with an
/// error that mentions `cause`.
fn assert_refused_in_little_memory(path: &Path, cause: &str) {
    let (out, rss) = diffimg_with_rss(&[path.as_os_str(), path.as_os_str()]);
    assert_error(&out, path.file_name().unwrap().to_str().unwrap());
    assert!(stderr(&out).contains(cause), "{path:?}: {}", stderr(&out));
    assert!(rss < SMALL, "{path:?}: peak memory {rss} bytes");
}

/// A strip cut short, a strip offset past the end of the file, a byte count of 2^40 and a
/// chunk table claiming 2^40 entries: each one line naming the file (and the rows, for a
/// chunk), in little memory.
#[test]
fn damaged_and_forged_chunk_tables() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(13);
    let image = Image::random(&mut rng, 40, 30, Layout::RGB8);
    let plain = Arrangement {
        big: true,
        ..ARRANGEMENTS[0]
    };
    let file = image.tiff(plain);
    // Strips of 5 rows of 120 bytes from offset 16; the IFD after them.
    let cut = write(dir.path(), "cut.tiff", &{
        let mut t = file.clone();
        t.truncate(16 + 600 * 3 + 100);
        t
    });
    let out = diffimg([&cut, &cut]);
    assert_error(&out, "cut.tiff");
    let tags = vec![
        (256, vec![40]),
        (257, vec![30]),
        (258, vec![8, 8, 8]),
        (259, vec![1]),
        (262, vec![2]),
        (277, vec![3]),
        (284, vec![1]),
    ];
    let chunks: Vec<Vec<u8>> = (0..6).map(|_| vec![7; 600]).collect();
    let forge = |name: &str, change: &dyn Fn(&mut Vec<u8>)| {
        let mut t = write_tiff(plain, &mut tags.clone(), &chunks);
        change(&mut t);
        write(dir.path(), name, &t)
    };
    // The chunk tables follow the IFD: offsets, then counts, 6 LONG8 each, at its end.
    let tables = |t: &Vec<u8>| t.len() - 96;
    let past = forge("past.tiff", &|t| {
        let at = tables(t) + 8 * 2;
        t[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    });
    assert_refused_in_little_memory(&past, "chunk of rows 10 to 14 lies past the end");
    let long = forge("long.tiff", &|t| {
        let at = tables(t) + 48;
        t[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    });
    let (out, rss) = diffimg_with_rss(&[long.as_os_str(), long.as_os_str()]);
    assert!(rss < SMALL, "peak memory {rss}");
    if out.status.code() != Some(0) {
        assert_error(&out, "long.tiff");
    }
    let many = forge("many.tiff", &|t| {
        // The StripOffsets entry's count (the 6th of 10 entries, after the entry count).
        let ifd = t.len() - 96 - 8 - 10 * 20 - 8;
        let entry = ifd + 8 + 20 * 5;
        assert_eq!(u16::from_le_bytes([t[entry], t[entry + 1]]), 273);
        t[entry + 4..entry + 12].copy_from_slice(&(1u64 << 40).to_le_bytes());
    });
    let (out, rss) = diffimg_with_rss(&[many.as_os_str(), many.as_os_str()]);
    assert_error(&out, "many.tiff");
    assert!(rss < SMALL, "peak memory {rss}");
}

/// A Deflate strip that is not a zlib stream: an error naming the strip's rows, whichever
/// worker decodes it, and no diff image left behind.
#[test]
fn undecodable_chunk_names_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let a = Arrangement {
        deflate: true,
        ..ARRANGEMENTS[0]
    };
    let mut tags = vec![
        (256, vec![40]),
        (257, vec![30]),
        (258, vec![8, 8, 8]),
        (259, vec![8]),
        (262, vec![2]),
        (277, vec![3]),
        (284, vec![1]),
    ];
    let mut chunks: Vec<Vec<u8>> = (0..6)
        .map(|_| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&[9; 600]).unwrap();
            z.finish().unwrap()
        })
        .collect();
    chunks[2] = vec![0xff; 40];
    let path = write(
        dir.path(),
        "broken.tiff",
        &write_tiff(a, &mut tags, &chunks),
    );
    let diff = dir.path().join("diff.png");
    let out = diffimg([
        path.as_os_str(),
        path.as_os_str(),
        OsStr::new("-f"),
        diff.as_os_str(),
    ]);
    assert_error(&out, "broken.tiff: chunk of rows 10 to 14");
    assert!(!diff.exists(), "the partial diff image is removed");
}

/// A header claiming 60000x60000 (within the 2^32 limit for streamed images) over a few bytes
/// per strip fails on its first strip; 2^20 x 2^20 is over the limit.
#[test]
fn forged_sizes() {
    let dir = tempfile::tempdir().unwrap();
    for (side, rows, cause) in [
        (
            60000u32,
            1,
            "chunk of rows 0 to 0 holds 10 bytes of the 60000",
        ),
        (1 << 20, 1 << 20, "exceeds the limit"),
    ] {
        let a = Arrangement {
            big: true,
            chunk: (0, rows),
            ..ARRANGEMENTS[0]
        };
        let mut tags = vec![
            (256, vec![side.into()]),
            (257, vec![side.into()]),
            (258, vec![8]),
            (259, vec![1]),
            (262, vec![1]),
            (277, vec![1]),
            (284, vec![1]),
        ];
        let chunks = vec![vec![1; 10]; side.div_ceil(rows) as usize];
        let path = write(dir.path(), "big.tiff", &write_tiff(a, &mut tags, &chunks));
        assert_refused_in_little_memory(&path, cause);
    }
}

/// Floating-point samples other than 32-bit, or in a layout not read here, are refused, never
/// converted (that used to give a wrong ratio); 32-bit ones are compared in tests/float.rs.
#[test]
fn floats_not_read_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = ARRANGEMENTS[0];
    let mut tags = vec![
        (256, vec![4]),
        (257, vec![5]),
        (258, vec![16]),
        (259, vec![1]),
        (262, vec![1]),
        (277, vec![1]),
        (284, vec![1]),
        (339, vec![3]),
    ];
    let chunks = vec![vec![0; 40]];
    let path = write(dir.path(), "half.tiff", &write_tiff(a, &mut tags, &chunks));
    let out = diffimg([&path, &path]);
    assert_error(&out, "16-bit floating-point TIFF samples are not read");
    // Two 32-bit float samples a pixel with no alpha among them: not grey + alpha, and not
    // left to the `image` crate, which would convert them.
    let mut tags = vec![
        (256, vec![4]),
        (257, vec![5]),
        (258, vec![32, 32]),
        (259, vec![1]),
        (262, vec![1]),
        (277, vec![2]),
        (284, vec![1]),
        (339, vec![3, 3]),
    ];
    let chunks = vec![vec![0; 160]];
    let path = write(dir.path(), "two.tiff", &write_tiff(a, &mut tags, &chunks));
    assert_error(&diffimg([&path, &path]), "floating-point TIFF samples as");
}

/// A single Deflate strip of a few bytes whose header claims `width` x `height` pixels of
/// `bits`-bit samples in `channels` channels (floats for 32 bits).
fn one_strip(width: u32, height: u32, channels: u64, bits: u64) -> Vec<u8> {
    let a = Arrangement {
        chunk: (0, height),
        deflate: true,
        ..ARRANGEMENTS[0]
    };
    let mut tags = vec![
        (256, vec![width.into()]),
        (257, vec![height.into()]),
        (258, vec![bits; channels as usize]),
        (259, vec![8]),
        (262, vec![if channels < 3 { 1 } else { 2 }]),
        (277, vec![channels]),
        (284, vec![1]),
    ];
    if channels == 4 {
        tags.push((338, vec![2]));
    }
    if bits == 32 {
        tags.push((339, vec![3; channels as usize]));
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&[0; 64]).unwrap();
    write_tiff(a, &mut tags, &[z.finish().unwrap()])
}

/// Decoded bytes of the chunks held at once are bounded, both images together, by the budget
/// of images decoded whole (4 bytes a pixel of `--max-pixels`): a strip within the pixel limit
/// that takes gigabytes decoded (float RGBA 65536x4096, 4 GiB; RGBA 16-bit and RGB 8-bit
/// 16384x16384) is refused before anything is allocated for it.
#[test]
fn chunk_bytes_held_at_once_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    for (name, width, height, channels, bits) in [
        ("float.tiff", 65536, 4096, 4, 32),
        ("rgba16.tiff", 16384, 16384, 4, 16),
        ("rgb8.tiff", 16384, 16384, 3, 8),
    ] {
        let path = write(dir.path(), name, &one_strip(width, height, channels, bits));
        let args = [
            path.as_os_str(),
            path.as_os_str(),
            OsStr::new("--backend=cpu"),
        ];
        let out = diffimg_bounded(&args, 256 << 20, 60);
        assert_error(&out, name);
        let cause = "bytes an image may hold at once (raise it with --max-pixels)";
        assert!(stderr(&out).contains(cause), "{}", stderr(&out));
    }
    // The budget follows --max-pixels: 65536 pixels allow 128 KiB a side, so 256x256 RGBA
    // in one strip (256 KiB) is refused, and in strips of 64 rows compared.
    let mut rng = fastrand::Rng::with_seed(5);
    let image = Image::random(&mut rng, 256, 256, Layout::RGBA8);
    for (rows, refused) in [(256, true), (64, false)] {
        let a = Arrangement {
            chunk: (0, rows),
            ..ARRANGEMENTS[0]
        };
        let path = write(dir.path(), "strips.tiff", &image.tiff(a));
        let out = diffimg([
            path.as_os_str(),
            path.as_os_str(),
            "--max-pixels=65536".as_ref(),
        ]);
        if refused {
            assert_error(&out, "over the 131072 bytes an image may hold at once");
        } else {
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        }
    }
}

/// A classic little-endian grey TIFF of `width` x `height` tiles of one pixel, all of them
/// the same byte (written here rather than by `write_tiff`, to keep this process small: the
/// children's peak memory that other tests measure starts from it).
fn tiles_of_one_pixel(width: u32, height: u32) -> Vec<u8> {
    let n = width * height;
    let entries: [(u16, u16, u32, u32); 10] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (277, 3, 1, 1),
        (322, 4, 1, 1),
        (323, 4, 1, 1),
        (324, 4, n, 142),
        (325, 4, n, 142 + 4 * n),
    ];
    // The header, the pixel at 8, the IFD at 16 (126 bytes), the two tables at 142.
    let mut file = b"II*\0".to_vec();
    file.extend(16u32.to_le_bytes());
    file.extend([7; 8]);
    file.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        file.extend(tag.to_le_bytes());
        file.extend(kind.to_le_bytes());
        file.extend(count.to_le_bytes());
        file.extend(value.to_le_bytes());
    }
    file.extend(0u32.to_le_bytes());
    for value in [8u32, 1] {
        file.extend((0..n).flat_map(|_| value.to_le_bytes()));
    }
    file
}

/// Each chunk costs a seek, a decompressor's start and table entries: 1024x1024 tiles of one
/// pixel (the most chunks allowed, 2^20) are compared in a few seconds of processor time (each
/// seek used to refill the read buffer: 50 s for 1000x1000), and more are refused before any
/// is read (2000x2000 took 70 s and 621 MB).
#[test]
fn chunk_count_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "most.tiff", &tiles_of_one_pixel(1024, 1024));
    let args = [
        path.as_os_str(),
        path.as_os_str(),
        OsStr::new("--backend=cpu"),
    ];
    let out = diffimg_bounded(&args, 512 << 20, 25);
    assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    let path = write(dir.path(), "tiles.tiff", &tiles_of_one_pixel(1025, 1024));
    let args = [
        path.as_os_str(),
        path.as_os_str(),
        OsStr::new("--backend=cpu"),
    ];
    let out = diffimg_bounded(&args, 256 << 20, 10);
    assert_error(
        &out,
        "tiles.tiff: 1049600 chunks exceed the limit of 1048576 chunks",
    );
}

/// An error that would repeat a value for each of 65535 samples a pixel (bits per sample that
/// differ) is cut short: it was 196,722 bytes.
#[test]
fn long_errors_are_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let mut bits = vec![8; 65535];
    bits[65534] = 16;
    let mut tags = vec![
        (256, vec![4]),
        (257, vec![5]),
        (258, bits),
        (259, vec![1]),
        (262, vec![1]),
        (277, vec![65535]),
        (284, vec![1]),
    ];
    let path = write(
        dir.path(),
        "samples.tiff",
        &write_tiff(ARRANGEMENTS[0], &mut tags, &[vec![0; 64]]),
    );
    let out = diffimg([&path, &path]);
    assert_error(
        &out,
        "samples.tiff: unsupported error: inconsistent bits per sample",
    );
    assert!(stderr(&out).len() < 400, "{} bytes", stderr(&out).len());
}
