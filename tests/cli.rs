//! The command as a user runs it: output, exit codes, JSON, the reference values of the
//! original diffimg, hand-computed cases per colour type, and bad input.

mod common;

use std::path::Path;

use common::{assert_error, diffimg, fixture, stderr, stdout, write_png};
use diffimg::{Layout, Samples};

fn ok_line(args: &[&std::ffi::OsStr]) -> String {
    let out = diffimg(args);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    stdout(&out)
}

fn ratio(a: &Path, b: &Path, extra: &[&str]) -> String {
    let mut args = vec![a.as_os_str(), b.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    ok_line(&args)
}

mod seed {
    use super::*;

    #[test]
    fn black_white_is_one() {
        let (a, b) = (fixture("black.png"), fixture("white.png"));
        assert_eq!(ratio(&a, &b, &[]), "1.0\n");
        assert_eq!(ratio(&a, &b, &["--ignore-alpha"]), "1.0\n");
        assert_eq!(ratio(&a, &b, &["-r"]), "1.0\n");
    }

    #[test]
    fn mario_matches_diffimg_digits() {
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        assert_eq!(ratio(&a, &b, &[]), "0.007319618135968298\n");
        assert_eq!(ratio(&a, &b, &["--ignore-alpha"]), "0.008675405566134298\n");
    }

    #[test]
    fn percent_sentence() {
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        let expected = format!("Images differ by {:?}%\n", 0.007319618135968298 * 100.0);
        assert_eq!(ratio(&a, &b, &["--percent"]), expected);
        let (a, b) = (fixture("black.png"), fixture("white.png"));
        assert_eq!(ratio(&a, &b, &["--percent"]), "Images differ by 100.0%\n");
    }

    #[test]
    fn identical_images_give_zero() {
        let a = fixture("mario-circle-cs.png");
        assert_eq!(ratio(&a, &a, &[]), "0.0\n");
    }

    #[test]
    fn mario_diff_image_equals_diffimg_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("diff.png");
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        ratio(&a, &b, &["-f", out.to_str().unwrap()]);
        let ours = image::open(&out).unwrap();
        let theirs = image::open(fixture("mario-diff-raw.png")).unwrap();
        assert_eq!(ours.color(), theirs.color());
        assert_eq!(ours.as_bytes(), theirs.as_bytes());
    }

    #[test]
    fn ignore_alpha_diff_image_is_opaque() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("diff.png");
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        ratio(&a, &b, &["--ignore-alpha", "-f", out.to_str().unwrap()]);
        let ours = image::open(&out).unwrap().to_rgba8();
        let raw = image::open(fixture("mario-diff-raw.png"))
            .unwrap()
            .to_rgba8();
        for (o, r) in ours.pixels().zip(raw.pixels()) {
            assert_eq!(o.0[..3], r.0[..3]);
            assert_eq!(o.0[3], 255);
        }
    }
}

mod output {
    use super::*;

    #[test]
    fn json_has_every_figure() {
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        let line = ratio(&a, &b, &["--json", "--backend", "cpu"]);
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["ratio"], 0.007319618135968298);
        assert_eq!(json["percent"], 0.7319618135968298);
        assert_eq!(json["width"], 381);
        assert_eq!(json["height"], 480);
        assert_eq!(json["channels"], 4);
        assert_eq!(json["bit_depth"], 8);
        assert_eq!(json["sum"], 1365384);
        assert_eq!(json["engine"]["kind"], "cpu");
        let means = json["mean_abs_diff"].as_array().unwrap();
        assert_eq!(means.len(), 4);
        let total: f64 = means.iter().map(|m| m.as_f64().unwrap()).sum();
        assert_eq!((total * 182880.0).round(), 1365384.0);
        assert!(json["differing_pixels"].as_u64().unwrap() > 0);
        assert!(json["max_diff"].as_u64().unwrap() <= 255);
        let bbox = &json["bbox"];
        assert!(bbox["x"].as_u64().unwrap() + bbox["width"].as_u64().unwrap() <= 381);
        assert!(bbox["y"].as_u64().unwrap() + bbox["height"].as_u64().unwrap() <= 480);
        assert!(json["elapsed_ms"].as_f64().unwrap() >= 0.0);
    }

    #[test]
    fn json_says_why_auto_chose_its_engine() {
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        let json = |extra: &[&str]| -> serde_json::Value {
            serde_json::from_str(&ratio(&a, &b, extra)).unwrap()
        };
        let auto = json(&["--json"]);
        assert_eq!(auto["engine"]["kind"], "cpu");
        let reason = auto["engine"]["reason"].as_str().unwrap();
        assert!(reason.contains("under 16777216 pixels"), "{reason}");
        let cpu = json(&["--json", "--backend", "cpu"]);
        assert_eq!(cpu["engine"].get("reason"), None);
    }

    #[test]
    fn json_of_identical_images_has_null_bbox() {
        let a = fixture("black.png");
        let json: serde_json::Value = serde_json::from_str(&ratio(&a, &a, &["--json"])).unwrap();
        assert_eq!(json["bbox"], serde_json::Value::Null);
        assert_eq!(json["differing_pixels"], 0);
        assert_eq!(json["ratio"], 0.0);
    }

    #[test]
    fn max_ratio_gates_exit_code() {
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        let over = diffimg([
            a.as_os_str(),
            b.as_os_str(),
            "--max-ratio".as_ref(),
            "0.007".as_ref(),
        ]);
        assert_eq!(over.status.code(), Some(1));
        assert_eq!(stdout(&over), "0.007319618135968298\n");
        let within = diffimg([
            a.as_os_str(),
            b.as_os_str(),
            "--max-ratio".as_ref(),
            "0.008".as_ref(),
        ]);
        assert_eq!(within.status.code(), Some(0));
    }

    #[test]
    fn verbose_names_engine_on_stderr_only() {
        let (a, b) = (fixture("black.png"), fixture("white.png"));
        let out = diffimg([
            a.as_os_str(),
            b.as_os_str(),
            "-v".as_ref(),
            "--backend".as_ref(),
            "cpu".as_ref(),
        ]);
        assert_eq!(stdout(&out), "1.0\n");
        assert!(stderr(&out).contains("engine: cpu"), "{}", stderr(&out));
        assert!(stderr(&out).contains("10x10"), "{}", stderr(&out));
    }

    #[test]
    fn diff_formats_follow_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            fixture("mario-circle-cs.png"),
            fixture("mario-circle-node.png"),
        );
        for (name, format) in [
            ("d.jpg", image::ImageFormat::Jpeg),
            ("d.bmp", image::ImageFormat::Bmp),
            ("d.tiff", image::ImageFormat::Tiff),
            ("noext", image::ImageFormat::Png),
        ] {
            let out = dir.path().join(name);
            ratio(&a, &b, &["-f", out.to_str().unwrap()]);
            let read = image::ImageReader::open(&out)
                .unwrap()
                .with_guessed_format()
                .unwrap();
            assert_eq!(read.format(), Some(format), "{name}");
            let decoded = read.decode().unwrap();
            assert_eq!((decoded.width(), decoded.height()), (381, 480));
            if format == image::ImageFormat::Jpeg {
                assert!(!decoded.color().has_alpha());
            }
        }
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files.len(), 4, "no temporary files left: {files:?}");
    }

    #[test]
    fn existing_diff_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("diff.png");
        std::fs::write(&out, b"old").unwrap();
        let (a, b) = (fixture("black.png"), fixture("white.png"));
        ratio(&a, &b, &["-f", out.to_str().unwrap()]);
        let diff = image::open(&out).unwrap().to_rgb8();
        assert!(diff.pixels().all(|p| p.0 == [255, 255, 255]));
    }

    #[test]
    fn diff_image_over_the_mask_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mask = dir.path().join("mask.png");
        write_png(&mask, 10, 10, Layout::L8, &Samples::U8(vec![0; 100]));
        let before = std::fs::read(&mask).unwrap();
        let (a, b) = (fixture("black.png"), fixture("white.png"));
        let out = diffimg([
            a.as_os_str(),
            b.as_os_str(),
            "--mask".as_ref(),
            mask.as_os_str(),
            "-f".as_ref(),
            mask.as_os_str(),
        ]);
        assert_error(&out, "mask.png: is one of the input images");
        assert_eq!(std::fs::read(&mask).unwrap(), before);
        assert_eq!(common::files_in(dir.path()), ["mask.png"]);
    }
}

/// Small images with sums worked out by hand, per colour type.
mod layouts {
    use super::*;

    /// Writes two one-row images and returns what diffimg prints for them.
    fn run(
        layout_a: Layout,
        a: Samples,
        layout_b: Layout,
        b: Samples,
        extra: &[&str],
    ) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let width = (a.len() / layout_a.channels as usize) as u32;
        let (pa, pb) = (dir.path().join("a.png"), dir.path().join("b.png"));
        write_png(&pa, width, 1, layout_a, &a);
        write_png(&pb, width, 1, layout_b, &b);
        let mut args = vec![pa.as_os_str(), pb.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let out = diffimg(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (stdout(&out), stderr(&out))
    }

    /// diffimg's evaluation: the mean of each channel, added, over channels * max.
    fn expected(sums: &[u64], pixels: u64, max: f64) -> String {
        let total: f64 = sums.iter().map(|&s| s as f64 / pixels as f64).sum();
        format!("{:?}\n", total / (sums.len() as f64 * max))
    }

    #[test]
    fn grey() {
        let (out, _) = run(
            Layout::L8,
            Samples::U8(vec![0, 10, 200]),
            Layout::L8,
            Samples::U8(vec![5, 10, 100]),
            &[],
        );
        assert_eq!(out, expected(&[105], 3, 255.0));
    }

    #[test]
    fn grey_alpha() {
        let a = Samples::U8(vec![0, 255, 10, 0]);
        let b = Samples::U8(vec![30, 250, 10, 0]);
        let (out, _) = run(Layout::LA8, a.clone(), Layout::LA8, b.clone(), &[]);
        assert_eq!(out, expected(&[30, 5], 2, 255.0));
        let (out, _) = run(Layout::LA8, a, Layout::LA8, b, &["--ignore-alpha"]);
        assert_eq!(out, expected(&[30], 2, 255.0));
    }

    #[test]
    fn rgb() {
        let a = Samples::U8(vec![1, 2, 3, 4, 5, 6]);
        let b = Samples::U8(vec![3, 2, 0, 4, 5, 255]);
        let (out, _) = run(Layout::RGB8, a, Layout::RGB8, b, &[]);
        assert_eq!(out, expected(&[2, 0, 252], 2, 255.0));
    }

    #[test]
    fn rgba_with_and_without_alpha() {
        let a = Samples::U8(vec![10, 20, 30, 255, 0, 0, 0, 0]);
        let b = Samples::U8(vec![20, 20, 30, 0, 0, 0, 9, 0]);
        let (out, _) = run(Layout::RGBA8, a.clone(), Layout::RGBA8, b.clone(), &[]);
        assert_eq!(out, expected(&[10, 0, 9, 255], 2, 255.0));
        let (out, _) = run(Layout::RGBA8, a, Layout::RGBA8, b, &["--ignore-alpha"]);
        assert_eq!(out, expected(&[10, 0, 9], 2, 255.0));
    }

    #[test]
    fn sixteen_bit_is_not_truncated() {
        // 1 and 256 share the same high byte as 0 and 257; at 8 bits both would look equal.
        let (out, _) = run(
            Layout::L16,
            Samples::U16(vec![0, 257, 65535]),
            Layout::L16,
            Samples::U16(vec![1, 256, 0]),
            &[],
        );
        assert_eq!(out, expected(&[1 + 1 + 65535], 3, 65535.0));
        let a = Samples::U16(vec![0, 0, 0, 65535]);
        let b = Samples::U16(vec![65535, 65535, 65535, 0]);
        let (out, _) = run(Layout::RGBA16, a, Layout::RGBA16, b, &[]);
        assert_eq!(out, "1.0\n");
    }

    #[test]
    fn grey_against_rgb_is_promoted_with_a_note() {
        let (out, err) = run(
            Layout::L8,
            Samples::U8(vec![100]),
            Layout::RGB8,
            Samples::U8(vec![100, 110, 90]),
            &[],
        );
        assert_eq!(out, expected(&[0, 10, 10], 1, 255.0));
        assert!(err.contains("comparing both as RGB8"), "{err}");
    }

    #[test]
    fn rgb_against_rgba_gets_opaque_alpha() {
        let (out, _) = run(
            Layout::RGB8,
            Samples::U8(vec![0, 0, 0]),
            Layout::RGBA8,
            Samples::U8(vec![0, 0, 0, 55]),
            &[],
        );
        assert_eq!(out, expected(&[0, 0, 0, 200], 1, 255.0));
    }

    #[test]
    fn eight_against_sixteen_scales_to_sixteen() {
        let (out, err) = run(
            Layout::L8,
            Samples::U8(vec![255, 1]),
            Layout::L16,
            Samples::U16(vec![65535, 0]),
            &[],
        );
        assert_eq!(out, expected(&[257], 2, 65535.0));
        assert!(err.contains("L16"), "{err}");
    }
}

mod sizes {
    use super::*;

    #[test]
    fn different_sizes_name_both() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.png");
        write_png(&small, 2, 3, Layout::RGB8, &Samples::U8(vec![0; 18]));
        let big = fixture("black.png");
        let out = diffimg([big.as_os_str(), small.as_os_str()]);
        assert_error(&out, "10x10");
        assert!(stderr(&out).contains("2x3"));
        assert!(stderr(&out).contains("small.png"));
    }

    #[test]
    fn resize_compares_at_the_first_size() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.png");
        write_png(&small, 2, 3, Layout::RGB8, &Samples::U8(vec![255; 18]));
        let black = fixture("black.png");
        let out = diffimg([
            black.as_os_str(),
            small.as_os_str(),
            "--resize".as_ref(),
            "--json".as_ref(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(
            (json["width"].as_u64(), json["height"].as_u64()),
            (Some(10), Some(10))
        );
        assert_eq!(json["ratio"], 1.0);
    }
}

mod bad_input {
    use super::*;

    fn no_files_but(dir: &Path, expected: &[&str]) {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, expected);
    }

    #[test]
    fn missing_file() {
        let out = diffimg([fixture("nope.png"), fixture("black.png")]);
        assert_error(&out, "nope.png");
    }

    #[test]
    fn not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text.png");
        std::fs::write(&text, "hello, not a picture").unwrap();
        assert_error(&diffimg([fixture("black.png"), text.clone()]), "text.png");
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, "").unwrap();
        assert_error(&diffimg([empty.clone(), fixture("black.png")]), "empty.png");
    }

    #[test]
    fn a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_error(
            &diffimg([dir.path().to_owned(), fixture("black.png")]),
            "directory",
        );
    }

    #[test]
    fn truncated_png_leaves_no_diff_file() {
        let dir = tempfile::tempdir().unwrap();
        let whole = std::fs::read(fixture("mario-circle-node.png")).unwrap();
        let cut = dir.path().join("cut.png");
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        let diff = dir.path().join("diff.png");
        let out = diffimg([
            fixture("mario-circle-cs.png"),
            cut.clone(),
            "-f".into(),
            diff.clone(),
        ]);
        assert_error(&out, "cut.png");
        assert!(stderr(&out).contains("row"), "{}", stderr(&out));
        no_files_but(dir.path(), &["cut.png"]);
    }

    #[test]
    fn failed_run_keeps_the_old_diff_file() {
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("cut.png");
        let whole = std::fs::read(fixture("mario-circle-node.png")).unwrap();
        std::fs::write(&cut, &whole[..whole.len() * 3 / 4]).unwrap();
        let diff = dir.path().join("diff.png");
        std::fs::write(&diff, b"previous").unwrap();
        let out = diffimg([
            fixture("mario-circle-cs.png"),
            cut,
            "-f".into(),
            diff.clone(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(std::fs::read(&diff).unwrap(), b"previous");
        no_files_but(dir.path(), &["cut.png", "diff.png"]);
    }

    #[test]
    fn unknown_output_extension() {
        let dir = tempfile::tempdir().unwrap();
        let diff = dir.path().join("diff.xyz");
        let out = diffimg([
            fixture("black.png"),
            fixture("white.png"),
            "-f".into(),
            diff,
        ]);
        assert_error(&out, "diff.xyz");
        no_files_but(dir.path(), &[]);
    }

    #[test]
    fn output_in_missing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let diff = dir.path().join("missing/diff.png");
        let out = diffimg([
            fixture("black.png"),
            fixture("white.png"),
            "-f".into(),
            diff,
        ]);
        assert_error(&out, "missing");
    }

    #[test]
    fn output_that_is_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.png");
        std::fs::copy(fixture("black.png"), &a).unwrap();
        let before = std::fs::read(&a).unwrap();
        let out = diffimg([a.clone(), fixture("white.png"), "-f".into(), a.clone()]);
        assert_error(&out, "a.png");
        // The same file reached by another path is refused too.
        let other = dir.path().join(".").join("a.png");
        let out = diffimg([fixture("white.png"), a.clone(), "-f".into(), other]);
        assert_error(&out, "input");
        // And so is a hard link to it.
        let link = dir.path().join("link.png");
        std::fs::hard_link(&a, &link).unwrap();
        let out = diffimg([a.clone(), fixture("white.png"), "-f".into(), link.clone()]);
        assert_error(&out, "input");
        std::fs::remove_file(&link).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), before);
        no_files_but(dir.path(), &["a.png"]);
    }

    /// Argument errors are one `error:` line and exit 2, like every other error; `--help`
    /// still prints in full.
    #[test]
    fn bad_arguments_are_one_line() {
        let (b, w) = (fixture("black.png"), fixture("white.png"));
        assert_error(&diffimg(["only-one.png"]), "IMAGE2");
        assert_error(
            &diffimg([b.as_os_str(), w.as_os_str(), "--frobnicate".as_ref()]),
            "--frobnicate",
        );
        for batch in ["0", "1025", "lots"] {
            let args = [
                b.as_os_str(),
                w.as_os_str(),
                "--gpu-batch".as_ref(),
                batch.as_ref(),
            ];
            assert_error(&diffimg(args), "--gpu-batch");
        }
        for (value, why) in [
            ("lots", "not a number"),
            ("nan", "finite"),
            ("inf", "finite"),
            ("-1", "0 or more"),
        ] {
            for args in [
                vec!["--max-ratio".to_string(), value.to_string()],
                vec![format!("--max-ratio={value}")],
            ] {
                let mut all = vec![b.clone().into_os_string(), w.clone().into_os_string()];
                all.extend(args.into_iter().map(Into::into));
                assert_error(&diffimg(&all), why);
            }
        }
        let help = diffimg(["--help"]);
        assert_eq!(help.status.code(), Some(0));
        assert!(stdout(&help).lines().count() > 10);
    }

    /// A colour is six hex digits (a sign is not one), a percentage of `--max-changed` that
    /// rounds to 0 from a nonzero text is refused, and `--help` names every gate that gives
    /// exit status 1.
    #[test]
    fn colours_percentages_and_exit_help() {
        let (b, w) = (fixture("black.png"), fixture("white.png"));
        let with = |extra: &[&str]| {
            let mut args = vec![b.as_os_str(), w.as_os_str()];
            args.extend(extra.iter().map(std::ffi::OsStr::new));
            diffimg(&args)
        };
        for colour in ["#+f+f+f", "+f+f+f", "#-1-1-1", "#ff00"] {
            assert_error(&with(&["--diff-color", colour]), "--diff-color");
        }
        assert_eq!(with(&["--diff-color", "#0aF0a0"]).status.code(), Some(0));
        for tiny in ["1e-400%", "0.1e-330%"] {
            assert_error(&with(&["--max-changed", tiny]), "too small");
        }
        for fine in ["0%", "0e-400%", "1e-300%"] {
            assert_eq!(
                with(&["--max-changed", fine]).status.code(),
                Some(1),
                "{fine}"
            );
        }
        for bad in ["inf%", "nan%", "-1%", "1e400%"] {
            let arg = format!("--max-changed={bad}");
            assert_error(&with(&[&arg]), "--max-changed");
        }
        let help = stdout(&diffimg(["--help"]));
        let exit = help.lines().find(|l| l.starts_with("Exit status")).unwrap();
        for gate in ["--max-ratio", "--max-changed", "--max-diff"] {
            assert!(exit.contains(gate), "{exit}");
        }
    }

    /// A ratio above 1 is a valid gate (HDR images may exceed 1), and 0 gates any difference.
    #[test]
    fn max_ratio_takes_any_finite_non_negative_value() {
        let (b, w) = (fixture("black.png"), fixture("white.png"));
        let code = |gate: &str| {
            diffimg([
                b.as_os_str(),
                w.as_os_str(),
                "--max-ratio".as_ref(),
                gate.as_ref(),
            ])
            .status
            .code()
        };
        assert_eq!(code("0"), Some(1));
        assert_eq!(code("2.5"), Some(0));
    }

    /// A result that cannot be printed is an error (exit 2), not a success with the result
    /// lost; a closed pipe, as `| head` gives, stays silent.
    #[test]
    fn stdout_errors_are_errors() {
        let (b, w) = (fixture("black.png"), fixture("white.png"));
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = common::command()
            .args([b.as_os_str(), w.as_os_str()])
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: standard output") && err.lines().count() == 1,
            "{err}"
        );
    }
}
