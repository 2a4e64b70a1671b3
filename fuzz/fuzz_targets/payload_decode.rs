//! Fuzz target `payload_decode`: see `glitter_fuzz::targets::payload_decode` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("payload_decode"),
    |data: &[u8]| glitter_fuzz::targets::payload_decode::run(data)
);
