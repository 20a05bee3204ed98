//! GPU trouble at every stage: with `--backend auto` the run completes on the CPU with the same
//! output and a warning; with `--backend gpu` it fails cleanly with exit 2. Faults are caused
//! through the `DIFFIMG_GPU_FAULT` hook, in a process of their own (a lost device would fail the
//! comparisons other threads run on it).

mod common;

use std::path::Path;
use std::process::Output;

use common::{assert_error, perturb, random_samples, skip_without_gpu, stderr, stdout, write_png};
use diffimg::Layout;

const STAGES: [&str; 7] = [
    "adapter",
    "device",
    "allocation",
    "dispatch",
    "readback",
    "lost",
    "hang",
];

fn run(fault: Option<&str>, args: &[&Path], backend: &str) -> Output {
    let mut command = common::command();
    // A hung device is given up on after half a second.
    command
        .args(args)
        .args(["--json", "--gpu-timeout", "0.5", "--gpu-batch", "1"])
        .args(["--backend", backend]);
    if let Some(stage) = fault {
        command.env("DIFFIMG_GPU_FAULT", stage);
    }
    command.output().expect("the diffimg binary runs")
}

/// A pair big enough for three batches of 1 MiB, so that the device can be lost between them.
fn pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (width, height) = (600, 1000);
    let layout = Layout::RGBA8;
    let mut rng = fastrand::Rng::with_seed(77);
    let a = random_samples(&mut rng, (width * height * 4) as usize, false);
    let b = perturb(&mut rng, &a, 3);
    let (pa, pb) = (dir.join("a.png"), dir.join("b.png"));
    write_png(&pa, width, height, layout, &a);
    write_png(&pb, width, height, layout, &b);
    (pa, pb)
}

/// The figures of a JSON report, without what depends on the engine and the clock.
fn figures(out: &Output) -> serde_json::Value {
    let mut json: serde_json::Value = serde_json::from_str(&stdout(out)).expect("JSON on stdout");
    let object = json.as_object_mut().unwrap();
    object.remove("engine");
    object.remove("elapsed_ms");
    json
}

#[test]
fn every_fault_falls_back_or_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path());
    let cpu_diff = dir.path().join("cpu.png");
    let reference = run(None, &[&a, &b, Path::new("-f"), &cpu_diff], "cpu");
    assert_eq!(reference.status.code(), Some(0), "{}", stderr(&reference));
    let healthy = run(None, &[&a, &b], "gpu");
    if healthy.status.code() != Some(0) {
        return skip_without_gpu(&stderr(&healthy));
    }
    assert_eq!(figures(&healthy), figures(&reference));
    for stage in STAGES {
        let diff = dir.path().join(format!("{stage}.png"));
        let auto = run(Some(stage), &[&a, &b, Path::new("-f"), &diff], "auto");
        let err = stderr(&auto);
        assert_eq!(auto.status.code(), Some(0), "{stage}: {err}");
        assert!(
            err.contains("warning:") && err.contains("CPU"),
            "{stage}: {err}"
        );
        assert!(!err.contains("panicked"), "{stage}: {err}");
        assert_eq!(figures(&auto), figures(&reference), "{stage}");
        assert!(
            std::fs::read(&diff).unwrap() == std::fs::read(&cpu_diff).unwrap(),
            "{stage}"
        );
        let json: serde_json::Value = serde_json::from_str(&stdout(&auto)).unwrap();
        if stage == "lost" {
            assert_eq!(
                json["engine"]["gpu_bands"], 1,
                "the first band ran on the GPU"
            );
        }
        assert!(json["engine"]["cpu_bands"].as_u64().unwrap() > 0, "{stage}");

        let strict_diff = dir.path().join(format!("{stage}-gpu.png"));
        let strict = run(Some(stage), &[&a, &b, Path::new("-f"), &strict_diff], "gpu");
        assert_error(&strict, "GPU");
        assert!(
            !strict_diff.exists(),
            "{stage}: no diff image after a failure"
        );
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        3 + STAGES.len(),
        "no temporary files left: {names:?}"
    );
}

#[test]
fn cpu_backend_never_touches_the_gpu() {
    let (a, b) = (common::fixture("black.png"), common::fixture("white.png"));
    let out = run(Some("adapter"), &[&a, &b], "cpu");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
}

#[test]
fn gpu_timeout_must_be_a_positive_number() {
    let (a, b) = (common::fixture("black.png"), common::fixture("white.png"));
    for bad in ["0", "-1", "soon"] {
        let mut command = common::command();
        let out = command
            .args([&a, &b])
            .args(["--gpu-timeout", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

#[test]
fn unknown_fault_is_an_error() {
    let (a, b) = (common::fixture("black.png"), common::fixture("white.png"));
    assert_error(&run(Some("meteor"), &[&a, &b], "auto"), "meteor");
}
