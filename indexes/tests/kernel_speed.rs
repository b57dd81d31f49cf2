//! The chosen kernel table is never slower than the scalar one by more than 10% on the
//! machine running the tests (batch f32 kernels over cached rows, and 4-row kernels against
//! the scalar kernel called 4 times; best of 7 passes).
//! Skipped with `noasm`, where the chosen table is the scalar one.
#![cfg(not(feature = "noasm"))]
#![allow(clippy::unwrap_used)]

use stratovec_indexes::kernel::throughput::{batch_gbps, x4_gbps};
use stratovec_indexes::kernel::X4;
use stratovec_indexes::{kernels, KernelTable};

#[test]
fn batch_kernels_are_not_slower_than_scalar() {
    let (chosen, scalar) = (kernels(), KernelTable::scalar());
    for dim in [50, 384] {
        for (op, ours, theirs) in [("dot_batch", chosen.dot_batch, scalar.dot_batch), ("l2_batch", chosen.l2_batch, scalar.l2_batch)] {
            let (a, b) = (batch_gbps(ours, dim, 256 << 10, 7), batch_gbps(theirs, dim, 256 << 10, 7));
            println!("{op} dim {dim}: {} {a:.1} GB/s, scalar {b:.1} GB/s", chosen.name);
            assert!(a >= 0.9 * b, "{op} at dim {dim}: {} {a:.1} GB/s is slower than scalar {b:.1} GB/s", chosen.name);
        }
    }
}

#[test]
fn four_row_kernels_are_not_slower_than_scalar() {
    let chosen = kernels();
    let scalar_dot: X4 = |q, rows| rows.map(|r| (KernelTable::scalar().dot)(q, r));
    let scalar_l2: X4 = |q, rows| rows.map(|r| (KernelTable::scalar().l2_sq)(q, r));
    for dim in [50, 384] {
        for (op, ours, theirs) in [("dot_x4", chosen.dot_x4, scalar_dot), ("l2_x4", chosen.l2_x4, scalar_l2)] {
            let Some(ours) = ours else { continue };
            let (a, b) = (x4_gbps(ours, dim, 256 << 10, 7), x4_gbps(theirs, dim, 256 << 10, 7));
            println!("{op} dim {dim}: {} {a:.1} GB/s, scalar {b:.1} GB/s", chosen.name);
            assert!(a >= 0.9 * b, "{op} at dim {dim}: {} {a:.1} GB/s is slower than scalar {b:.1} GB/s", chosen.name);
        }
    }
}
