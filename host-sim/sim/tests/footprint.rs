//! The memory a simulated node costs: what bounds `glitter sim scale --nodes 100000`
//! (docs/PERFORMANCE.md). The core node keeps every table inline (no allocator), so
//! its size is fixed by its capacities; this test keeps it from growing unnoticed.

use glitter_sim::SimNode;

#[test]
fn a_simulated_node_fits_its_budget() {
    let bytes = std::mem::size_of::<SimNode>();
    println!("a SimNode is {bytes} bytes");
    assert!(
        bytes <= 54 * 1024,
        "a SimNode is {bytes} bytes (budget 54 KiB)"
    );
}
