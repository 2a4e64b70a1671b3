//! Fuzz target `backup_custody`: see `glitter_fuzz::targets::backup_custody` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("backup_custody"),
    |data: &[u8]| glitter_fuzz::targets::backup_custody::run(data)
);
