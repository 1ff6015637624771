//! Helpers shared by the firmware example's binaries: counting instructions
//! with SysTick under QEMU's `-icount` ([`icount`]) per multiply-add
//! ([`macs`]), measuring peak stack ([`stack`]), comparing device results
//! with the host's ([`check_exact`]), ending the QEMU session ([`qemu`]),
//! and the `shift` model, f32 or int8 ([`shift_model`]).
#![no_std]
#![deny(unsafe_code)]

pub mod icount;
pub mod macs;
pub mod qemu;
pub mod shift_model;
#[allow(unsafe_code)] // volatile reads/writes of the unused stack region (see its module doc)
pub mod stack;

use cortex_m_semihosting::hprintln;

/// Compares `dev` with `host` bit for bit, prints one line with the verdict
/// and the largest difference relative to the largest host magnitude, and
/// returns true when every value has the same bits.
pub fn check_exact(label: &str, dev: &[f32], host: &[f32]) -> bool {
    let scale = host
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let max_diff = dev
        .iter()
        .zip(host)
        .fold(0.0f32, |m, (d, h)| m.max((d - h).abs()));
    let exact = dev
        .iter()
        .zip(host)
        .filter(|(d, h)| d.to_bits() == h.to_bits())
        .count();
    let ok = dev.len() == host.len() && exact == host.len();
    hprintln!(
        "  check {:<16} {} ({}/{} bit-exact, max rel. diff {:e})",
        label,
        if ok { "ok  " } else { "FAIL" },
        exact,
        host.len(),
        max_diff / scale
    );
    ok
}
