//! Link settings for the binaries on Linux: a position-dependent executable (`-no-pie`), and
//! the functions an invocation runs laid out together (`link/text-order.txt`).
//!
//! A PIE is loaded at a random address, so before `main` the dynamic loader applies one relative
//! relocation to every pointer in the binary's data (43,000 of them here: vtables, string tables,
//! the AWS SDK's static configuration), which reads a megabyte of relocation entries and writes
//! into, and so copies, every page they patch. That was over half of a one-record invocation's
//! instructions and some 1.5 MiB of its resident memory. At a fixed address the linker resolves
//! them once, at build time. See README, "Performance", for what was measured and what it costs
//! (the executable's own code is no longer address-randomized; its heap, stack and libraries
//! still are).
//!
//! The code an invocation runs is some 330 pages of 4 KiB, spread over 13 MB of `.text`; the
//! kernel maps the 64 KiB around each page it faults in, so scattered, it was 3.3 MiB of the
//! batch's resident memory. `--symbol-ordering-file` puts those functions first, together
//! (`scripts/order-text` lists them from callgrind profiles). The option is LLD's, and is given
//! only to rustc's own linker, `rust-lld`, the default for x86_64 Linux (no linker configured,
//! none chosen in `RUSTFLAGS`): `cargo lambda`'s zig, although LLD inside, refuses it
//! ("unsupported linker arg"), so the bootstrap it builds keeps the default layout (README,
//! "Performance"). A name the list has and the build does not (another compiler, changed code)
//! is skipped without a warning; that function is only placed as it would be without the list.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=link/text-order.txt");
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo::rerun-if-env-changed=ORDER_TEXT_MAP");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        return;
    }
    println!("cargo::rustc-link-arg-bins=-no-pie");
    let default_lld = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64")
        && std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu")
        && std::env::var_os("RUSTC_LINKER").is_none()
        && !std::env::var("CARGO_ENCODED_RUSTFLAGS")
            .is_ok_and(|f| f.contains("fuse-ld") || f.contains("linker-features"));
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("link/text-order.txt");
    if default_lld && order.exists() {
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    // `scripts/order-text` asks for a link map, to name the functions a profile ran in a
    // stripped binary: a build without `strip` would be another build, with other symbol names.
    if let Some(map) = std::env::var_os("ORDER_TEXT_MAP").filter(|_| default_lld) {
        let map = map.to_string_lossy();
        println!("cargo::rustc-link-arg-bins=-Wl,-Map={map}");
        println!("cargo::rustc-link-arg-bins=-Wl,--no-demangle");
    }
}
