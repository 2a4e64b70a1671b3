//! Peak stack use, from cortex-m-rt's `paint-stack` feature.
//!
//! At reset, cortex-m-rt fills the RAM between `_stack_end` (the end of the static
//! data) and `_stack_start` (the initial stack pointer) with `0xCCCC_CCCC`. The stack
//! grows down from `_stack_start`; the lowest word that is no longer painted marks the
//! deepest the stack ever reached.

use cortex_m_rt::STACK_PAINT_VALUE;

unsafe extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
    static __sdata: u32;
}

/// Bytes of stack used so far, at most: from the initial stack pointer down to the
/// lowest word the program ever wrote.
pub fn peak_bytes() -> usize {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let mut addr = bottom;
    while addr < top {
        // SAFETY: `addr` is word-aligned (cortex-m-rt aligns `_stack_end` to 4) and
        // lies in RAM between the linker's `_stack_end` and `_stack_start`.
        let word = unsafe { core::ptr::read_volatile(addr as *const u32) };
        if word != STACK_PAINT_VALUE {
            break;
        }
        addr += 4;
    }
    top - addr
}

/// Bytes of static RAM: `.data`, `.bss` and `.uninit`, from `__sdata` (the start of
/// RAM) to `_stack_end`.
pub fn static_bytes() -> usize {
    core::ptr::addr_of!(_stack_end) as usize - core::ptr::addr_of!(__sdata) as usize
}

/// Bytes between the end of static RAM and the initial stack pointer: the room the
/// stack has.
pub fn stack_room_bytes() -> usize {
    core::ptr::addr_of!(_stack_start) as usize - core::ptr::addr_of!(_stack_end) as usize
}
