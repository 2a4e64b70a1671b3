//! Fuzz target `flash_log`: see `glitter_fuzz::targets::flash_log` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("flash_log"),
    |data: &[u8]| glitter_fuzz::targets::flash_log::run(data)
);
