//! `loss-bench launches`: kernel launches per forward + backward pass of each workload of
//! [`super::workloads`], fused and generic (and burn-nn's cross-entropy), on a CubeCL backend.
//!
//! CubeCL's profiling log (`CUBECL_DEBUG_LOG=<file>`, `CUBECL_DEBUG_OPTION=profile`) has one
//! line per launch. Child processes run a step 1 to 4 times after building the inputs; the
//! difference of consecutive counts is one step's launches, whatever building the inputs
//! launched (the value that two of the three differences agree on).

use std::process::Command;

use burn::tensor::backend::AutodiffBackend;

use super::workloads::{Workload, workloads};

/// Set in a child: `workload,column,runs`.
const CHILD: &str = "LOSS_BENCH_LAUNCH_CHILD";
/// The columns: the fused path, the generic path, burn-nn.
const COLUMNS: [&str; 3] = ["fused", "generic", "burn-nn"];

/// Prints the table, or (in a child) runs its step.
pub fn run<B: AutodiffBackend>(backend: &str) {
    let device = Default::default();
    if let Ok(spec) = std::env::var(CHILD) {
        let [index, column, runs]: [usize; 3] = spec
            .split(',')
            .map(|v| v.parse().expect("a child spec"))
            .collect::<Vec<_>>()
            .try_into()
            .expect("three numbers");
        let workload = workloads::<B>(&device).swap_remove(index);
        burn_losses::fused::set_enabled(column == 0);
        let step = step(&workload, column).expect("a step for the column");
        B::sync(&device).expect("device sync");
        for _ in 0..runs {
            step();
        }
        B::sync(&device).expect("device sync");
        return;
    }
    println!("kernel launches per forward + backward pass, backend {backend}");
    println!("| workload | fused | generic | burn-nn |");
    println!("|---|---:|---:|---:|");
    for (index, workload) in workloads::<B>(&device).iter().enumerate() {
        let cells: Vec<String> = (0..COLUMNS.len())
            .map(|column| match step(workload, column) {
                None => "–".to_string(),
                Some(_) => launches(index, column).map_or("?".into(), |n| n.to_string()),
            })
            .collect();
        println!("| {} | {} |", workload.name, cells.join(" | "));
    }
}

/// The step of a column (burn-nn only where the workload has it).
fn step<'w>(workload: &'w Workload<'_>, column: usize) -> Option<&'w dyn Fn()> {
    match column {
        2 => workload.burn_nn.as_deref(),
        _ => Some(&*workload.loss),
    }
}

/// Launches of one step of `column` on workload `index`: the difference between runs of `k`
/// and `k + 1` steps (`k = 1, 2, 3`) that at least two of the three agree on (a stray launch
/// in one child, e.g. a late log line, made single differences flicker by ±2).
fn launches(index: usize, column: usize) -> Option<i64> {
    let count = |runs: usize| -> Option<i64> {
        let log = std::env::temp_dir().join(format!(
            "loss-bench-launches-{}-{index}-{column}-{runs}.log",
            std::process::id()
        ));
        let status = Command::new(std::env::current_exe().ok()?)
            .arg("launches")
            .env(CHILD, format!("{index},{column},{runs}"))
            .env("CUBECL_DEBUG_LOG", &log)
            .env("CUBECL_DEBUG_OPTION", "profile")
            .status()
            .ok()?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        status.success().then(|| {
            // `| 1.2ms | KernelName | Runtime`: a launch and its duration.
            text.lines()
                .filter(|line| {
                    line.strip_prefix("| ")
                        .and_then(|rest| rest.split(" |").next())
                        .is_some_and(|time| time.trim().ends_with('s'))
                })
                .count() as i64
        })
    };
    let counts = [count(1)?, count(2)?, count(3)?, count(4)?];
    let steps: Vec<i64> = counts.windows(2).map(|w| w[1] - w[0]).collect();
    steps
        .iter()
        .copied()
        .find(|&d| steps.iter().filter(|&&other| other == d).count() >= 2)
}
