//! Fuzz target `device_link`: see `glitter_fuzz::targets::device_link` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("device_link"),
    |data: &[u8]| glitter_fuzz::targets::device_link::run(data)
);
