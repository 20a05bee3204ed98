//! Says so when the JPEG decoder will be built without its SIMD code: `mozjpeg-sys` assembles
//! it with `nasm` on x86 and x86-64 and quietly leaves it out when `nasm` cannot be run (its own
//! warning is not shown for a dependency).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "x86_64" && arch != "x86" {
        return;
    }
    // The same test as mozjpeg-sys: `nasm -v` runs and is not a 0.x version.
    let usable = Command::new("nasm")
        .arg("-v")
        .output()
        .is_ok_and(|out| !String::from_utf8_lossy(&out.stdout).contains("NASM version 0."));
    if !usable {
        println!(
            "cargo:warning=nasm (2.x or later) not found on PATH: the JPEG decoder is built without its SIMD \
             code, so JPEG inputs decode slower; install nasm, then run \
             `cargo clean -p mozjpeg-sys` and build again"
        );
    }
}
