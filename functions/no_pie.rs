//! The build script of every Lambda package: link its binary as a position-dependent executable.
//!
//! A position-independent executable (the toolchain's default) is relocated by the dynamic loader
//! at every start. The AWS SDK's tables and vtables make that tens of thousands of relocations in
//! `outbox-api` and `outbox-delivery` (51,000 and 45,000), written into a megabyte of otherwise
//! read-only pages, and it was the largest part of their cold start that was still ours. Linked with
//! `-no-pie`, the linker resolves them once, at build time. The code is still compiled
//! position-independent (a dependency, `crc-fast`, builds a cdylib, which needs that); only the
//! executable's load address is fixed. The trade: the executable's own image is not randomised
//! (its libraries, heap and stacks still are), as with Go's default Lambda binaries. Delete this
//! script's line in a function's `Cargo.toml` to go back.

fn main() {
    println!("cargo:rerun-if-changed=../no_pie.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
