//! Ending the QEMU session through semihosting: exit code 0 on success, 1
//! otherwise (a panic included), so that a script sees the verdict. Does
//! not depend on the runtime: `bench/microflow-ad01` uses it too.

use cortex_m_semihosting::{debug, hprintln};

/// Ends the QEMU session: exit code 0 on success, 1 otherwise.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints the `RESULT: PASS` or `RESULT: FAIL` line the scripts look for
/// and ends the session with the matching exit code.
pub fn finish(ok: bool) -> ! {
    hprintln!(
        "{}",
        if ok {
            "RESULT: PASS (device matches host)"
        } else {
            "RESULT: FAIL (device differs from host)"
        }
    );
    exit(ok)
}

/// The body of a binary's `#[panic_handler]`: prints the panic and exits
/// with code 1.
pub fn on_panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    exit(false)
}
