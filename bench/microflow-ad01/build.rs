//! Puts `memory.x` (QEMU mps2-an386 with a real M4F part's budget: 1 MiB flash,
//! 128 KiB RAM, as the firmware example) where cortex-m-rt's `link.x` finds it.
use std::{env, fs, path::PathBuf};
fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
}
