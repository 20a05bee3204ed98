//! Inputs that used to cost far more than their pixels, decoders that panic, and input errors
//! that did not say what was wrong: each run either gives the result in little memory or exits
//! 2 with one `error:` line that names the file in words.

mod common;
#[path = "fixtures/bad/generate.rs"]
#[allow(dead_code)]
mod generate;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{assert_error, command, diffimg, diffimg_with_rss, stderr, stdout, write_png};
use diffimg::{Layout, Samples};

/// Peak memory a small input may cost, for the process as a whole.
const SMALL: u64 = 64 << 20;

fn os(path: &Path) -> &OsStr {
    path.as_os_str()
}

/// A 16x12 JPEG followed by 3 GiB of (sparse) bytes: read only up to its end-of-image marker.
#[test]
fn bytes_after_a_jpeg_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tail.jpg");
    let jpeg = generate::base_jpeg();
    std::fs::write(&path, &jpeg).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(jpeg.len() as u64 + (3 << 30)).unwrap();
    let start = std::time::Instant::now();
    let (out, rss) = diffimg_with_rss(&[os(&path), os(&path)]);
    assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    assert!(rss < SMALL, "peak memory {rss} bytes");
    // Reading 3 GiB of holes takes seconds; stopping at the marker takes none.
    assert!(start.elapsed().as_secs() < 10, "{:?}", start.elapsed());
}

/// A 1x1 PNG carrying 300,000 each of tEXt, zTXt and iTXt chunks: skipped, not kept.
#[test]
fn text_chunks_are_skipped_without_being_kept() {
    let dir = tempfile::tempdir().unwrap();
    let base = generate::Png::random(&mut fastrand::Rng::with_seed(1), 1, 1, generate::RGB, 8);
    let plain = base.encode();
    let idat = generate::chunk_offsets(&plain)
        .into_iter()
        .find(|(_, kind)| kind == b"IDAT")
        .unwrap()
        .0;
    // Written as it is made: the test process's own peak memory counts in its child's.
    let path = dir.path().join("texts.png");
    let mut png = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    png.write_all(&plain[..idat]).unwrap();
    let texts: [([u8; 4], &[u8]); 3] = [
        (*b"tEXt", b"Comment\0some text here"),
        (*b"zTXt", b"Comment\0\0x\x9c\x03\x00\x00\x00\x00\x01"),
        (*b"iTXt", b"Comment\0\0\0\0\0some text here"),
    ];
    for (kind, data) in texts {
        let one = generate::chunk(kind, data);
        for _ in 0..300_000 {
            png.write_all(&one).unwrap();
        }
    }
    png.write_all(&plain[idat..]).unwrap();
    png.flush().unwrap();
    let bytes = std::fs::metadata(&path).unwrap().len();
    let (out, rss) = diffimg_with_rss(&[os(&path), os(&path)]);
    assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    assert!(
        rss < SMALL,
        "peak memory {rss} bytes for a {bytes} byte file"
    );
}

/// A valid PNG whose rows exceed 64 MiB (16,777,217x1 RGBA) is compared; rows wider than the
/// limit on what is held at once are refused in words that say how to lift it.
#[test]
fn rows_wider_than_64_mib() {
    let dir = tempfile::tempdir().unwrap();
    // Made a megabyte at a time: the test process's own peak memory counts in its child's.
    let width: u32 = (1 << 24) + 1;
    let mut data = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    data.write_all(&[0]).unwrap();
    let mut left = width as usize * 4;
    while left > 0 {
        let n = left.min(1 << 20);
        data.write_all(&vec![0; n]).unwrap();
        left -= n;
    }
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend([0, 0, 0, 1, 8, generate::RGBA, 0, 0, 0]);
    let png = generate::assemble(&[
        (*b"IHDR", ihdr),
        (*b"IDAT", data.finish().unwrap()),
        (*b"IEND", Vec::new()),
    ]);
    let path = dir.path().join("row.png");
    std::fs::write(&path, png).unwrap();
    let out = diffimg([os(&path), os(&path)]);
    assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    let wide = dir.path().join("wide.png");
    std::fs::write(
        &wide,
        generate::header_only_png(1 << 29, 1, generate::RGB, 8, false),
    )
    .unwrap();
    let out = diffimg([os(&wide), os(&wide)]);
    assert_error(&out, "rows of 536870912 pixels exceed the limit");
    assert!(stderr(&out).contains("--max-pixels"));
}

/// A decoder that panics, on either image, while opening it or reading its rows (on the
/// calling thread, a thread of its own, or for `--resize`): exit 2, one line naming the file.
#[test]
fn decoder_panics_on_either_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    let (a, b, small) = (
        dir.path().join("first.png"),
        dir.path().join("second.png"),
        dir.path().join("small.png"),
    );
    let samples = common::random_samples(&mut rng, 16 * 8 * 3, false);
    write_png(&a, 16, 8, Layout::RGB8, &samples);
    write_png(&b, 16, 8, Layout::RGB8, &samples);
    write_png(&small, 4, 2, Layout::RGB8, &Samples::U8(vec![9; 24]));
    for (stage, name) in [
        ("open", "first.png"),
        ("open", "second.png"),
        ("rows", "first.png"),
        ("rows", "second.png"),
    ] {
        let out = command()
            .args([os(&a), os(&b)])
            .env("DIFFIMG_TEST_PANIC", format!("{stage}:{name}"))
            .output()
            .unwrap();
        assert_error(&out, &format!("{name}: the decoder crashed"));
    }
    let out = command()
        .args([os(&a), os(&small), "--resize".as_ref()])
        .env("DIFFIMG_TEST_PANIC", "rows:small.png")
        .output()
        .unwrap();
    assert_error(&out, "small.png: the decoder crashed");
}

/// An unknown critical PNG chunk is named by its four letters, not shown as a Rust structure.
#[test]
fn unknown_critical_chunk_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let plain = generate::base_png().encode();
    let idat = generate::chunk_offsets(&plain)
        .into_iter()
        .find(|(_, kind)| kind == b"IDAT")
        .unwrap()
        .0;
    let mut png = plain[..idat].to_vec();
    png.extend(generate::chunk(*b"ABCD", b"data"));
    png.extend_from_slice(&plain[idat..]);
    let path = dir.path().join("critical.png");
    std::fs::write(&path, png).unwrap();
    let out = diffimg([os(&path), os(&path)]);
    assert_error(&out, "critical.png: unknown critical chunk 'ABCD'");
    assert!(!stderr(&out).contains("ChunkType"), "{}", stderr(&out));
}

/// A minimal grey+alpha TIFF (uncompressed, one strip, ExtraSamples = unassociated alpha), the
/// layout Pillow writes for mode LA.
fn grey_alpha_tiff(width: u16, height: u16, samples: &[u8]) -> Vec<u8> {
    let data_at = 8u32;
    let ifd_at = data_at + samples.len() as u32;
    let mut out = b"II*\0".to_vec();
    out.extend(ifd_at.to_le_bytes());
    out.extend(samples);
    // (tag, type, count, value): type 3 is SHORT, 4 is LONG.
    let entries: [(u16, u16, u32, u32); 11] = [
        (256, 3, 1, u32::from(width)),
        (257, 3, 1, u32::from(height)),
        (258, 3, 2, 8 | (8 << 16)),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, data_at),
        (277, 3, 1, 2),
        (278, 3, 1, u32::from(height)),
        (279, 4, 1, samples.len() as u32),
        (284, 3, 1, 1),
        (338, 3, 1, 2),
    ];
    out.extend(11u16.to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(count.to_le_bytes());
        out.extend(value.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes());
    out
}

/// Grey+alpha TIFF is read (the image crate refused it as `color type Unknown(16)`), with the
/// same figures as the same pixels in PNG.
#[test]
fn grey_alpha_tiff_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    let Samples::U8(samples) = common::random_samples(&mut rng, 5 * 3 * 2, false) else {
        unreachable!()
    };
    let tiff = dir.path().join("la.tiff");
    std::fs::write(&tiff, grey_alpha_tiff(5, 3, &samples)).unwrap();
    let png = dir.path().join("la.png");
    write_png(&png, 5, 3, Layout::LA8, &Samples::U8(samples.clone()));
    let black = dir.path().join("black.png");
    write_png(&black, 5, 3, Layout::LA8, &Samples::U8(vec![0; 30]));
    let out = diffimg([os(&tiff), os(&png)]);
    assert_eq!(stdout(&out), "0.0\n", "{}", stderr(&out));
    let sum = |first: &PathBuf| {
        let out = diffimg([os(first), os(&black), "--json".as_ref()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        (
            json["sum"].as_u64().unwrap(),
            json["channels"].as_u64().unwrap(),
        )
    };
    let expected: u64 = samples.iter().map(|&s| u64::from(s)).sum();
    assert_eq!(sum(&tiff), (expected, 2));
    assert_eq!(sum(&png), (expected, 2));
}
