//! Fuzz target `chain_verify`: see `glitter_fuzz::targets::chain_verify` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("chain_verify"),
    |data: &[u8]| glitter_fuzz::targets::chain_verify::run(data)
);
