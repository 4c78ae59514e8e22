//! libFuzzer target: a `.kamal/secrets` file through the dotenv parser and substitution, with
//! commands refused (`fuzz/harness.rs` says what is checked).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gantry_fuzz::check_secrets(&String::from_utf8_lossy(data));
});
