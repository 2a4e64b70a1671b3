//! Fuzz target `sync_node`: see `glitter_fuzz::targets::sync_node` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("sync_node"),
    |data: &[u8]| glitter_fuzz::targets::sync_node::run(data)
);
