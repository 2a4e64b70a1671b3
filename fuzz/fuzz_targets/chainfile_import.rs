//! Fuzz target `chainfile_import`: see `glitter_fuzz::targets::chainfile_import` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("chainfile_import"),
    |data: &[u8]| glitter_fuzz::targets::chainfile_import::run(data)
);
