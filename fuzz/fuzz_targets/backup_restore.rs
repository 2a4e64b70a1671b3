//! Fuzz target `backup_restore`: see `glitter_fuzz::targets::backup_restore` and docs/FUZZING.md.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: glitter_fuzz::init("backup_restore"),
    |data: &[u8]| glitter_fuzz::targets::backup_restore::run(data)
);
