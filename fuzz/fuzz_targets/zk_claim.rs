//! Fuzz target `zk_claim`: see `glitter_fuzz::targets::zk_claim` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("zk_claim"),
    |data: &[u8]| glitter_fuzz::targets::zk_claim::run(data)
);
