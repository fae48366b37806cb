//! Wires in the musl layout probe (design.md §3).
//!
//! `cargo xtask build` compiles `ld-so/probe/layout.c` against the selected musl
//! version's internal headers, turns the result into `layout.rs`, and passes its
//! path in `STORMLESS_LAYOUT_RS`. The crate then asserts, at compile time, that
//! every private musl structure it mirrors has the probed offsets and sizes.
//! Host builds (unit tests, clippy) have no probe and compile without the check.

fn main() {
    println!("cargo:rerun-if-env-changed=STORMLESS_LAYOUT_RS");
    println!("cargo:rustc-check-cfg=cfg(probed_layout)");
    if let Ok(path) = std::env::var("STORMLESS_LAYOUT_RS") {
        if !std::path::Path::new(&path).is_file() {
            panic!("STORMLESS_LAYOUT_RS={path}: no such file (run the layout probe first)");
        }
        println!("cargo:rerun-if-changed={path}");
        println!("cargo:rustc-cfg=probed_layout");
    }
}
