//! Fuzz target `sync_message`: see `glitter_fuzz::targets::sync_message` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("sync_message"),
    |data: &[u8]| glitter_fuzz::targets::sync_message::run(data)
);
