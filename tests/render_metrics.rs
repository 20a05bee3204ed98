//! FLIP and SSIM from the command line: their flags and the values refused, the JSON figures
//! and how they hang together, gates, pixels left out, the diff-image styles, and batch mode
//! giving each pair's single-comparison figures. The kernels' values against the reference
//! tools are checked in `tests/flip_kernel.rs`, `tests/ssim_kernel.rs` and the Python tests.

mod common;

use std::path::Path;

use common::{assert_error, diffimg, fixture, random_samples, stderr, stdout, write_png};
use diffimg::Layout;
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let out = diffimg(args.iter().chain(&["--json"]));
    assert!(out.status.code().is_some_and(|c| c < 2), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

/// Where the mario pair differs most: a crop of each image, 120x100, small enough for debug
/// builds.
fn mario() -> [String; 2] {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        for (n, name) in ["mario-circle-cs.png", "mario-circle-node.png"]
            .iter()
            .enumerate()
        {
            let image = image::open(fixture(name))
                .unwrap()
                .crop_imm(60, 250, 120, 100);
            image.save(dir.path().join(format!("{n}.png"))).unwrap();
        }
        dir
    });
    [0, 1].map(|n| dir.path().join(format!("{n}.png")).display().to_string())
}

/// The single float channel of an OpenEXR diff image, row by row.
fn exr_values(path: &Path) -> (u32, u32, Vec<f32>) {
    let image = exr::prelude::read_first_flat_layer_from_file(path).unwrap();
    let size = image.layer_data.size;
    let channel = &image.layer_data.channel_data.list[0];
    let values = channel.sample_data.values_as_f32().collect();
    (size.0 as u32, size.1 as u32, values)
}

#[test]
fn bad_values_are_one_line_errors() {
    let [a, b] = mario();
    let cases: &[(&[&str], &str)] = &[
        (&["--ppd", "0"], "--ppd"),
        (&["--ppd", "-3"], "--ppd"),
        (&["--ppd", "nan"], "--ppd"),
        (&["--ppd", "1e9"], "--ppd"),
        (&["--viewing", "0.7,3840"], "--viewing"),
        (&["--viewing", "0,3840,0.7"], "--viewing"),
        (&["--viewing", "0.7,x,0.7"], "--viewing"),
        (&["--ppd", "60", "--viewing", "0.7,3840,0.7"], "--viewing"),
        (&["--exposure", "2,1"], "--exposure"),
        (&["--exposure", "inf,1"], "--exposure"),
        (&["--exposure", "1"], "--exposure"),
        (&["--exposures", "0"], "--exposures"),
        (&["--tonemapper", "filmic"], "--tonemapper"),
        (&["--max-flip", "1.5"], "--max-flip"),
        (&["--max-flip", "p100=0.1"], "--max-flip"),
        (&["--max-flip", "p0=0.1"], "--max-flip"),
        (&["--max-flip", "p50"], "--max-flip"),
        (&["--min-ssim", "2"], "--min-ssim"),
        (&["--min-ssim", "x"], "--min-ssim"),
        (&["--style", "flop"], "--style"),
        (&["--flip", "--canvas", "union"], "--canvas union"),
        (&["--ssim", "--canvas", "union"], "--canvas union"),
    ];
    for (flags, mentions) in cases {
        let out = diffimg([a.as_str(), b.as_str()].iter().chain(flags.iter()));
        assert_error(&out, mentions);
    }
}

/// Filters that would reach too many rows of a wide image are refused before any pixel is read.
#[test]
fn a_ppd_whose_filters_reach_too_far_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("wide.png");
    write_png(
        &a,
        4000,
        2,
        Layout::L8,
        &diffimg::Samples::U8(vec![0; 8000]),
    );
    let out = diffimg([
        a.as_os_str(),
        a.as_os_str(),
        "--ppd".as_ref(),
        "10000".as_ref(),
    ]);
    assert_error(&out, "--ppd");
    let out = diffimg([
        a.as_os_str(),
        a.as_os_str(),
        "--ppd".as_ref(),
        "100".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn ssim_refuses_images_smaller_than_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(3);
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    for path in [&a, &b] {
        let samples = random_samples(&mut rng, 10 * 20 * 3, false);
        write_png(path, 10, 20, Layout::RGB8, &samples);
    }
    let out = diffimg([a.as_os_str(), b.as_os_str(), "--ssim".as_ref()]);
    assert_error(&out, "11x11");
    // FLIP has no such floor.
    let out = diffimg([a.as_os_str(), b.as_os_str(), "--flip".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn equal_images_have_flip_zero_and_ssim_one() {
    let [a, _] = mario();
    let v = json(&[&a, &a, "--flip", "--ssim"]);
    let (width, height) = (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap());
    let flip = &v["flip"];
    assert_eq!(flip["mean"], 0.0);
    assert_eq!(flip["max"], 0.0);
    assert_eq!(flip["histogram"][0].as_u64(), Some(width * height));
    assert_eq!(flip["dynamic_range"], "ldr");
    assert_eq!(flip["max_at"], serde_json::json!({"x": 0, "y": 0}));
    assert_eq!(v["ssim"]["mean"], 1.0);
    assert_eq!(v["ssim"]["min_at"], serde_json::json!({"x": 5, "y": 5}));
}

#[test]
fn figures_hang_together() {
    let [a, b] = mario();
    let v = json(&[&a, &b, "--max-flip", "p99.9=1", "--ssim"]);
    let flip = &v["flip"];
    let pixels = v["width"].as_u64().unwrap() * v["height"].as_u64().unwrap();
    let histogram: Vec<u64> = serde_json::from_value(flip["histogram"].clone()).unwrap();
    assert_eq!(histogram.len(), 100);
    assert_eq!(histogram.iter().sum::<u64>(), pixels);
    let p = |k: &str| {
        flip["percentiles"][k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k}"))
    };
    let (min, max, mean) = (
        flip["min"].as_f64().unwrap(),
        flip["max"].as_f64().unwrap(),
        flip["mean"].as_f64().unwrap(),
    );
    let order = [
        min,
        p("25"),
        p("50"),
        p("75"),
        p("95"),
        p("99"),
        p("99.9"),
        max,
    ];
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    assert!(
        min <= mean && mean <= max && max > 0.0,
        "{min} {mean} {max}"
    );
    // The bin of the median holds the pixel that reaches half of them.
    let below: u64 = histogram[..(p("50") * 100.0) as usize].iter().sum();
    assert!(below * 2 <= pixels, "{below} of {pixels}");
    assert_eq!(flip["ppd"].as_f64(), Some(f64::from(67.020_645_f32)));
    let ssim = &v["ssim"];
    assert_eq!(ssim["channels"].as_array().map(Vec::len), Some(3));
    let channels: Vec<f64> = serde_json::from_value(ssim["channels"].clone()).unwrap();
    let mean = channels.iter().sum::<f64>() / 3.0;
    assert!((ssim["mean"].as_f64().unwrap() - mean).abs() < 1e-15);
    assert!(ssim["min"].as_f64().unwrap() < mean && mean < 1.0);
}

#[test]
fn gates_decide_the_exit_status() {
    let [a, b] = mario();
    let status = |flags: &[&str]| {
        let out = diffimg([a.as_str(), b.as_str()].iter().chain(flags.iter()));
        out.status.code()
    };
    let v = json(&[&a, &b, "--flip", "--ssim"]);
    let (mean, p99) = (
        v["flip"]["mean"].as_f64().unwrap(),
        v["flip"]["percentiles"]["99"].as_f64().unwrap(),
    );
    let ssim = v["ssim"]["mean"].as_f64().unwrap();
    let above = |x: f64| format!("{}", x + 1e-9);
    let below = |x: f64| format!("{}", x - 1e-9);
    assert_eq!(status(&["--max-flip", &above(mean)]), Some(0));
    assert_eq!(status(&["--max-flip", &below(mean)]), Some(1));
    assert_eq!(
        status(&["--max-flip", &format!("p99={}", above(p99))]),
        Some(0)
    );
    assert_eq!(
        status(&["--max-flip", &format!("p99={}", below(p99))]),
        Some(1)
    );
    let both = [
        "--max-flip",
        "1",
        "--max-flip",
        &format!("p99={}", below(p99)),
    ];
    assert_eq!(status(&both), Some(1));
    assert_eq!(status(&["--min-ssim", &below(ssim)]), Some(0));
    assert_eq!(status(&["--min-ssim", &above(ssim)]), Some(1));
}

#[test]
fn pixels_left_out_are_in_no_figure() {
    let [a, b] = mario();
    let all = json(&[&a, &b, "--flip", "--ssim"]);
    let some = json(&[&a, &b, "--flip", "--ssim", "--ignore", "0,0,40,30"]);
    let count = |v: &Value| -> u64 {
        let h: Vec<u64> = serde_json::from_value(v["flip"]["histogram"].clone()).unwrap();
        h.iter().sum()
    };
    assert_eq!(count(&all) - count(&some), 1200);
    assert_eq!(count(&all), 12000);
    assert_eq!(some["ignored_pixels"], 1200);
    assert_ne!(all["ssim"]["mean"], some["ssim"]["mean"]);
    let at = &some["flip"]["max_at"];
    let (x, y) = (at["x"].as_u64().unwrap(), at["y"].as_u64().unwrap());
    assert!(x >= 40 || y >= 30, "{at}");
}

/// The FLIP map written as floats holds the values the figures pool: its mean, its largest
/// value where `max_at` says; as PNG, each pixel is one of magma's 256 colours.
#[test]
fn flip_style_writes_the_map() {
    let [a, b] = mario();
    let dir = tempfile::tempdir().unwrap();
    let exr = dir.path().join("map.exr");
    let v = json(&[&a, &b, "--style", "flip", "-f", exr.to_str().unwrap()]);
    let (width, height, values) = exr_values(&exr);
    let values: Vec<f64> = values.into_iter().map(f64::from).collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert!((mean - v["flip"]["mean"].as_f64().unwrap()).abs() < 1e-9);
    let at = &v["flip"]["max_at"];
    let (x, y) = (
        at["x"].as_u64().unwrap() as u32,
        at["y"].as_u64().unwrap() as u32,
    );
    let max = values[(y * width + x) as usize];
    assert_eq!(max, v["flip"]["max"].as_f64().unwrap());
    let size = |k: &str| v[k].as_u64().unwrap() as u32;
    assert_eq!((width, height), (size("width"), size("height")));

    // The same values as TIFF, one 32-bit float channel.
    let tif = dir.path().join("map.tif");
    let out = diffimg([&a, &b, "--style", "flip", "-f", tif.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut decoder = tiff::decoder::Decoder::new(std::fs::File::open(&tif).unwrap()).unwrap();
    assert_eq!(decoder.colortype().unwrap(), tiff::ColorType::Gray(32));
    let tiff::decoder::DecodingResult::F32(from_tiff) = decoder.read_image().unwrap() else {
        panic!("not 32-bit floats");
    };
    assert!(
        from_tiff
            .iter()
            .map(|&v| f64::from(v))
            .eq(values.iter().copied())
    );

    let png = dir.path().join("map.png");
    let out = diffimg([&a, &b, "--style", "flip", "-f", png.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let drawn = image::open(&png).unwrap();
    assert_eq!(drawn.color(), image::ColorType::Rgb8);
    let drawn = drawn.to_rgb8();
    for (p, &value) in drawn.pixels().zip(&values) {
        let index = (value * 255.0 + 0.5) as usize;
        assert_eq!(p.0, magma(index), "{value}");
    }
}

/// Entry `i` of the magma table as drawn: black for 0, and the last entry for 255.
fn magma(i: usize) -> [u8; 3] {
    let table = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/style/magma.rgb"));
    let table = table.unwrap();
    [table[3 * i], table[3 * i + 1], table[3 * i + 2]]
}

#[test]
fn ssim_style_draws_edges_as_equal() {
    let [a, b] = mario();
    let dir = tempfile::tempdir().unwrap();
    let exr = dir.path().join("ssim.exr");
    let v = json(&[&a, &b, "--style", "ssim", "-f", exr.to_str().unwrap()]);
    let (width, height, values) = exr_values(&exr);
    let at = |x: u32, y: u32| f64::from(values[(y * width + x) as usize]);
    for (x, y) in [(0, 0), (4, 50), (50, 4), (width - 5, 50), (50, height - 5)] {
        assert_eq!(at(x, y), 1.0, "{x},{y}");
    }
    let min_at = &v["ssim"]["min_at"];
    let (x, y) = (
        min_at["x"].as_u64().unwrap() as u32,
        min_at["y"].as_u64().unwrap() as u32,
    );
    let min = v["ssim"]["min"].as_f64().unwrap();
    assert!((at(x, y) - min).abs() < 1e-6, "{} {min}", at(x, y));
    let inside = (5..height - 5).flat_map(|y| (5..width - 5).map(move |x| (x, y)));
    let mean = inside.clone().map(|(x, y)| at(x, y)).sum::<f64>() / inside.count() as f64;
    assert!((mean - v["ssim"]["mean"].as_f64().unwrap()).abs() < 1e-6);
}

/// Each pair of a batch run gets the figures its single comparison gives, to the last bit.
#[test]
fn batch_records_match_single_comparisons() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&left).unwrap();
    std::fs::create_dir_all(&right).unwrap();
    let [a, b] = mario();
    std::fs::copy(&a, left.join("m.png")).unwrap();
    std::fs::copy(&b, right.join("m.png")).unwrap();
    std::fs::copy(&a, left.join("same.png")).unwrap();
    std::fs::copy(&a, right.join("same.png")).unwrap();
    let flags = ["--flip", "--ssim", "--max-flip", "p97.5=1"];
    let out = diffimg(
        ["batch", left.to_str().unwrap(), right.to_str().unwrap()]
            .iter()
            .chain(&flags),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let records: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r.get("name").is_some())
        .collect();
    for (name, a, b) in [("m.png", &a, &b), ("same.png", &a, &a)] {
        let record = records.iter().find(|r| r["name"] == name).unwrap();
        let single = json(
            &[a.as_str(), b.as_str()]
                .into_iter()
                .chain(flags)
                .collect::<Vec<_>>(),
        );
        assert!(record["flip"].is_object(), "{record}");
        assert_eq!(record["flip"], single["flip"], "{name}");
        assert_eq!(record["ssim"], single["ssim"], "{name}");
    }
}

/// With FLIP, the report's difference view of a pair is its FLIP map in magma, made in a
/// scratch folder that is gone once the report is written.
#[test]
fn the_report_shows_flip_maps() {
    let dir = tempfile::tempdir().unwrap();
    let (left, right) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&left).unwrap();
    std::fs::create_dir_all(&right).unwrap();
    let [a, b] = mario();
    std::fs::copy(&a, left.join("m.png")).unwrap();
    std::fs::copy(&b, right.join("m.png")).unwrap();
    let report = dir.path().join("report.html");
    let out = diffimg([
        "batch",
        left.to_str().unwrap(),
        right.to_str().unwrap(),
        "--flip",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(page.contains("data-sort=\"flip\""), "no FLIP column");
    let view = image::open(dir.path().join("report_files/0-d.png")).unwrap();
    let table = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/style/magma.rgb"));
    let table = table.unwrap();
    let colours: Vec<&[u8]> = table.chunks(3).collect();
    let view = view.to_rgb8();
    assert!(view.pixels().all(|p| colours.contains(&&p.0[..])));
    assert!(
        view.pixels().any(|p| p.0 != [0, 0, 4]),
        "a map of a differing pair"
    );
    let left_over: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left_over.is_empty(), "{left_over:?}");
}

/// The GPU engine's figures are the CPU's within the tolerances of docs/render-metrics.md.
#[test]
fn gpu_figures_are_the_cpus_within_tolerance() {
    let [a, b] = mario();
    let cpu = json(&[&a, &b, "--flip", "--ssim", "--backend", "cpu"]);
    let out = diffimg([&a, &b, "--flip", "--ssim", "--backend", "gpu", "--json"]);
    if out.status.code() == Some(2) {
        return common::skip_without_gpu(&stderr(&out));
    }
    let gpu: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(gpu["engine"]["kind"], "gpu");
    let close = |path: &[&str], tolerance: f64| {
        let get = |v: &Value| {
            path.iter()
                .fold(v.clone(), |v, k| v[k].clone())
                .as_f64()
                .unwrap()
        };
        let (g, c) = (get(&gpu), get(&cpu));
        assert!((g - c).abs() <= tolerance, "{path:?}: gpu {g}, cpu {c}");
    };
    close(&["flip", "mean"], 1e-6);
    close(&["flip", "max"], 1e-5);
    close(&["flip", "min"], 1e-5);
    for p in ["25", "50", "75", "95", "99"] {
        close(&["flip", "percentiles", p], 1e-6 + 1.0 / 65536.0);
    }
    close(&["ssim", "mean"], 1e-6);
    close(&["ssim", "min"], 1e-5);
    // The histograms differ only by the pixels whose values differ, seen in both maps.
    let dir = tempfile::tempdir().unwrap();
    let maps = ["cpu", "gpu"].map(|backend| {
        let path = dir.path().join(format!("{backend}.exr"));
        let path = path.to_str().unwrap();
        let out = diffimg([&a, &b, "--style", "flip", "--backend", backend, "-f", path]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        exr_values(Path::new(path)).2
    });
    let differing = maps[0].iter().zip(&maps[1]).filter(|(c, g)| c != g).count();
    let histogram =
        |v: &Value| -> Vec<i64> { serde_json::from_value(v["flip"]["histogram"].clone()).unwrap() };
    let moved: i64 = histogram(&cpu)
        .iter()
        .zip(histogram(&gpu))
        .map(|(c, g)| (c - g).abs())
        .sum();
    assert!(moved as usize <= 2 * differing, "{moved} {differing}");
    let worst = maps[0]
        .iter()
        .zip(&maps[1])
        .map(|(c, g)| (c - g).abs())
        .fold(0.0, f32::max);
    assert!(worst <= 1e-3, "{worst}");
}

/// OpenEXR pairs get HDR-FLIP: exposures found from image 1 (read again before the
/// comparison) or given; a black reference has no exposure range and is refused.
#[test]
fn floating_point_images_get_hdr_flip() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, scale: f32| {
        let path = dir.path().join(name);
        exr::prelude::write_rgb_file(&path, 40, 30, |x, y| {
            let v = scale * (0.05 + ((x * 7 + y * 13) % 29) as f32 / 4.0);
            (v, v * 0.5, v * 0.25)
        })
        .unwrap();
        path.display().to_string()
    };
    let (a, b, black) = (
        write("a.exr", 1.0),
        write("b.exr", 1.1),
        write("black.exr", 0.0),
    );
    let v = json(&[&a, &b, "--flip"]);
    let flip = &v["flip"];
    assert_eq!(flip["dynamic_range"], "hdr");
    assert_eq!(flip["tonemapper"], "aces");
    let count = flip["exposures"]["count"].as_u64().unwrap();
    let (start, stop) = (
        flip["exposures"]["start"].as_f64().unwrap(),
        flip["exposures"]["stop"].as_f64().unwrap(),
    );
    assert!(start < stop && count >= 2, "{flip}");
    assert_eq!(count, ((stop - start).ceil() as u64).max(2));
    assert!(flip["mean"].as_f64().unwrap() > 0.0);
    let given = json(&[
        &a,
        &b,
        "--exposure",
        "-1,2",
        "--exposures",
        "3",
        "--tonemapper",
        "hable",
    ]);
    let exposures = &given["flip"]["exposures"];
    assert_eq!(
        *exposures,
        serde_json::json!({"start": -1.0, "stop": 2.0, "count": 3})
    );
    assert_eq!(given["flip"]["tonemapper"], "hable");
    assert_error(&diffimg([&black, &b, "--flip"]), "--exposure");
    assert_error(
        &diffimg([&a, &b, "--exposure", "0,1", "--exposures", "1"]),
        "--exposures",
    );
}
