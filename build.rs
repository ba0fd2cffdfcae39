//! Links the binaries as position-dependent executables (`-no-pie`).
//!
//! A PIE is loaded at a random address, so before `main` the dynamic loader applies one relative
//! relocation to every pointer in the binary's data (43,000 of them here: vtables, string tables,
//! the AWS SDK's static configuration), which reads a megabyte of relocation entries and writes
//! into, and so copies, every page they patch. That was over half of a one-record invocation's
//! instructions and some 1.5 MiB of its resident memory. At a fixed address the linker resolves
//! them once, at build time. See README, "Performance", for what was measured and what it costs
//! (the executable's own code is no longer address-randomized; its heap, stack and libraries
//! still are).
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
