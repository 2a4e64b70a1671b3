//! Fuzz target `header_roundtrip`: see `glitter_fuzz::targets::header_roundtrip` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("header_roundtrip"),
    |data: &[u8]| glitter_fuzz::targets::header_roundtrip::run(data)
);
