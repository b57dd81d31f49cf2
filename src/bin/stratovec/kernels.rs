//! `stratovec kernels`: the CPU, and the measured speed of every kernel table's batch f32
//! kernels (what exact scans use) and 4-row f32 kernels (what graph searches use) at 50 to
//! 1,536 dimensions, on cached rows and on rows streamed from memory, with the kernels this
//! process chose marked.

use clap::Args;
use stratovec::indexes::kernel::throughput::{batch_gbps, x4_gbps};
use stratovec::indexes::{kernels, KernelTable};
use stratovec::Error;

/// Options of `stratovec kernels`.
#[derive(Debug, Args)]
pub struct KernelsArgs {
    /// Dimensions to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,128,384,768,1536")]
    dims: Vec<usize>,
    /// Bytes of rows streamed from memory, in MiB (beyond the caches).
    #[arg(long, default_value_t = 64)]
    memory_mib: usize,
    /// Passes per measurement (the best is kept).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
}

/// CPU flags that decide which tables exist.
const FLAGS: [&str; 8] = ["sse4_2", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_vpopcntdq", "asimd"];

pub fn run(a: KernelsArgs) -> Result<(), Error> {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field =
        |name: &str| info.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()));
    let flags = field("flags").or_else(|| field("Features")).unwrap_or_default();
    let present: Vec<&str> = FLAGS.iter().copied().filter(|f| flags.split_whitespace().any(|x| x == *f)).collect();
    println!("cpu: {} ({})", crate::bench::cpu_name(), field("vendor_id").unwrap_or_else(|| std::env::consts::ARCH.into()));
    println!("flags: {}", present.join(" "));
    let chosen = kernels();
    println!("chosen table: {} (by CPU features, then calibrated; STRATOVEC_SIMD overrides); * = the kernel chosen", chosen.name);
    println!("GB/s of rows scored; cached = 256 KiB of rows, memory = {} MiB", a.memory_mib);
    let mut header = format!("{:<10} {:<9} {:<7}", "table", "kernel", "rows");
    for d in &a.dims {
        header += &format!(" {:>8}", format!("d={d}"));
    }
    println!("{header}");
    let places = [("cached", 256 << 10), ("memory", a.memory_mib << 20)];
    for table in KernelTable::available() {
        let chosen_batch = std::ptr::fn_addr_eq(table.dot_batch, chosen.dot_batch);
        for (op, f) in [("dot_batch", table.dot_batch), ("l2_batch", table.l2_batch)] {
            for (place, bytes) in places {
                let line = measured(&table, chosen_batch, op, place, &a.dims, |dim| batch_gbps(f, dim, bytes, a.repeats));
                println!("{line}");
            }
        }
        let chosen_x4 = matches!((table.dot_x4, chosen.dot_x4), (Some(t), Some(c)) if std::ptr::fn_addr_eq(t, c));
        for (op, f) in [("dot_x4", table.dot_x4), ("l2_x4", table.l2_x4)] {
            let Some(f) = f else { continue };
            for (place, bytes) in places {
                let line = measured(&table, chosen_x4, op, place, &a.dims, |dim| x4_gbps(f, dim, bytes, a.repeats));
                println!("{line}");
            }
        }
    }
    let speed = stratovec::indexes::kernel::throughput::scan_speed();
    let (reference, model) = (stratovec::REFERENCE_SCAN_SPEED, stratovec::CostModel::default().effective());
    println!(
        "planner calibration (l2_batch, d=128): cached {:.1} GB/s, memory {:.1} GB/s (fitted at {:.0} / {:.0}): scan_dim_ns {:.3}, scan_dim_ns_uncached {:.3}",
        speed.cached_gbps, speed.memory_gbps, reference.cached_gbps, reference.memory_gbps, model.scan_dim_ns, model.scan_dim_ns_uncached
    );
    Ok(())
}

/// One line of the table: the table's name (marked `*` when `chosen`), the kernel, where the
/// rows were, and the GB/s `gbps` measures at each dimension.
fn measured(table: &KernelTable, chosen: bool, op: &str, place: &str, dims: &[usize], gbps: impl Fn(usize) -> f64) -> String {
    let mark = if chosen { "*" } else { "" };
    let mut line = format!("{:<10} {op:<9} {place:<7}", format!("{}{mark}", table.name));
    for &dim in dims {
        line += &format!(" {:>8.1}", gbps(dim));
    }
    line
}
