//! Fuzz target `control_request`: see `glitter_fuzz::targets::control_request` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("control_request"),
    |data: &[u8]| glitter_fuzz::targets::control_request::run(data)
);
