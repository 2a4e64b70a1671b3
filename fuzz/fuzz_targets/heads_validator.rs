//! Fuzz target `heads_validator`: see `glitter_fuzz::targets::heads_validator` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("heads_validator"),
    |data: &[u8]| glitter_fuzz::targets::heads_validator::run(data)
);
