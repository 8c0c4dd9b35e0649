//! The summary of a run: geometric means of the speedups per thread count, the slowest
//! mainnet block, and the project's performance targets, each measured and met or missed.

use replay_evm_workload::Workload;
use serde_json::{Value, json};

use crate::{
    measure::{Spread, geomean},
    output::gas_text,
    report::{BlockResult, Source, is_independent},
};

/// One of the targets, as measured.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    /// The measured value (a speedup, or a memory ratio).
    pub(crate) measured: f64,
    pub(crate) threshold: f64,
    /// Whether the measured value must be at least (true) or at most (false) the threshold.
    pub(crate) at_least: bool,
    pub(crate) detail: String,
}

impl Target {
    pub(crate) fn met(&self) -> bool {
        if self.at_least {
            self.measured >= self.threshold
        } else {
            self.measured <= self.threshold
        }
    }

    /// How far from the threshold, as text (`by 0.31x (16%)`).
    pub(crate) fn gap(&self) -> String {
        let gap = (self.measured - self.threshold).abs();
        format!(
            "by {gap:.2}x ({:.0}% of the target)",
            100.0 * gap / self.threshold
        )
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "target": self.name,
            "measured": self.measured,
            "threshold": self.threshold,
            "at_least": self.at_least,
            "met": self.met(),
            "detail": self.detail,
        })
    }

    pub(crate) fn line(&self) -> String {
        let cmp = if self.at_least { ">=" } else { "<=" };
        let verdict = if self.met() {
            "MET   ".to_owned()
        } else {
            "MISSED".to_owned()
        };
        let gap = if self.met() {
            String::new()
        } else {
            format!(", missed {}", self.gap())
        };
        format!(
            "  [{verdict}] {}: {:.2}x {cmp} {:.2}x{gap}\n           {}",
            self.name, self.measured, self.threshold, self.detail
        )
    }
}

fn listed(items: &[(String, f64)]) -> String {
    listed_with(items, &[])
}

/// `items` listed, each followed by its note (`notes[i]` after `items[i]`; none past the
/// notes' end).
fn listed_with(items: &[(String, f64)], notes: &[String]) -> String {
    items
        .iter()
        .enumerate()
        .map(|(i, (name, v))| format!("{name} {v:.2}x{}", note_of(notes, i)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn note_of(notes: &[String], i: usize) -> &str {
    notes.get(i).map_or("", String::as_str)
}

/// The blocks `keep` picks that have a `value`, each with that value and, as its note, its
/// ceiling at `threads` where measured (` (ceiling 1.95x)`), so that a target's detail
/// reads against what the machine gave. Item and note share their index, whatever the
/// blocks' names.
fn with_ceilings(
    results: &[BlockResult],
    threads: usize,
    keep: &dyn Fn(&BlockResult) -> bool,
    value: &dyn Fn(&BlockResult) -> Option<f64>,
) -> (Vec<(String, f64)>, Vec<String>) {
    results
        .iter()
        .filter(|r| keep(r))
        .filter_map(|r| {
            let note = r
                .ceiling_at(threads)
                .map_or_else(String::new, |c| format!(" (ceiling {c:.2}x)"));
            Some(((r.name.clone(), value(r)?), note))
        })
        .unzip()
}

fn worst(items: &[(String, f64)], lowest: bool) -> Option<(String, f64)> {
    worst_index(items, lowest).map(|at| items[at].clone())
}

/// The index of the lowest (or highest) of `items` (of equals, the first lowest or the last
/// highest).
fn worst_index(items: &[(String, f64)], lowest: bool) -> Option<usize> {
    (0..items.len()).reduce(|a, b| {
        if (items[b].1 < items[a].1) == lowest {
            b
        } else {
            a
        }
    })
}

/// The summary of a run: geometric means per thread count and the targets.
pub(crate) struct Summary {
    pub(crate) threads: Vec<usize>,
    pub(crate) workload_geomean: Vec<Option<f64>>,
    pub(crate) mainnet_geomean: Vec<Option<f64>>,
    pub(crate) mainnet_slowest: Vec<Option<(String, f64)>>,
    pub(crate) mainnet_blocks: usize,
    /// The machine's ceiling per thread count over every round of the run (`ceiling.rs`).
    pub(crate) ceiling: Vec<Option<Spread>>,
    pub(crate) targets: Vec<Target>,
    pub(crate) blocks: usize,
    pub(crate) failed: usize,
}

/// At-least target on the worst of `items`.
fn worst_target(name: &str, items: &[(String, f64)], threshold: f64) -> Option<Target> {
    worst_target_with(name, (items, &[]), threshold)
}

/// [`worst_target`] with each item's note after its value (`items`: the items and their
/// notes, as [`with_ceilings`] gives them).
fn worst_target_with(
    name: &str,
    (items, notes): (&[(String, f64)], &[String]),
    threshold: f64,
) -> Option<Target> {
    let at = worst_index(items, true)?;
    let (block, value) = &items[at];
    Some(Target {
        name: name.to_owned(),
        measured: *value,
        threshold,
        at_least: true,
        detail: format!(
            "worst {block}{}; {}",
            note_of(notes, at),
            listed_with(items, notes)
        ),
    })
}

/// At-least target on the geometric mean of `items`.
fn geomean_target(name: &str, items: &[(String, f64)], threshold: f64) -> Option<Target> {
    let values: Vec<f64> = items.iter().map(|(_, s)| *s).collect();
    let measured = geomean(&values)?;
    let slowest = worst(items, true)
        .map(|(b, v)| format!("; slowest {b} {v:.2}x"))
        .unwrap_or_default();
    Some(Target {
        name: format!("{name} ({} blocks)", items.len()),
        measured,
        threshold,
        at_least: true,
        detail: format!(
            "{} of {} blocks at or above {threshold:.2}x{slowest}",
            values.iter().filter(|s| **s >= threshold).count(),
            items.len()
        ),
    })
}

/// Mainnet execution-only speedups at `threads` against their bounds: the geometric mean of
/// the one over the geometric mean of the other, at least 0.85. The detail adds the same
/// ratio against the bounds on the machine as its ceiling measured it (`machine_bound`),
/// where every block has one: how much of a miss the machine's.
fn bound_target(results: &[BlockResult], threads: usize) -> Option<Target> {
    // Each block with both an execution-only speedup and a bound, and its bound on the
    // machine where measured.
    let blocks: Vec<(f64, f64, Option<f64>)> = results
        .iter()
        .filter(|r| is_mainnet(r))
        .filter_map(|r| {
            let exec = r.exec_speedup_at(threads)?;
            Some((exec, r.bound_at(threads)?, r.machine_bound_at(threads)))
        })
        .collect();
    let exec = geomean(&blocks.iter().map(|b| b.0).collect::<Vec<_>>())?;
    let bound = geomean(&blocks.iter().map(|b| b.1).collect::<Vec<_>>())?;
    let machine = blocks
        .iter()
        .map(|b| b.2)
        .collect::<Option<Vec<_>>>()
        .and_then(|bounds| geomean(&bounds))
        .map(|machine| {
            format!(
                "; the bound on the machine as its ceiling measured it (each block's ceiling \
                 slowing the time both workers are busy) {machine:.2}x, execution-only over \
                 it {:.2}",
                exec / machine
            )
        })
        .unwrap_or_default();
    Some(Target {
        name: format!(
            "mainnet fixtures at {threads} threads, execution-only over the bound, geometric means ({} blocks)",
            blocks.len()
        ),
        measured: exec / bound,
        threshold: 0.85,
        at_least: true,
        detail: format!("execution-only {exec:.2}x against a bound of {bound:.2}x{machine}"),
    })
}

fn speedups(
    results: &[BlockResult],
    threads: usize,
    keep: impl Fn(&BlockResult) -> bool,
) -> Vec<(String, f64)> {
    results
        .iter()
        .filter(|r| keep(r))
        .filter_map(|r| Some((r.name.clone(), r.speedup_at(threads)?)))
        .collect()
}

fn is_mainnet(r: &BlockResult) -> bool {
    r.source == Source::Mainnet
}

fn workload_where(r: &BlockResult, pick: impl Fn(Workload) -> bool) -> bool {
    matches!(r.source, Source::Workload(w) if pick(w))
}

impl Summary {
    pub(crate) fn new(results: &[BlockResult], threads: &[usize], gas: u64) -> Self {
        let values = |v: &[(String, f64)]| v.iter().map(|(_, s)| *s).collect::<Vec<_>>();
        let workload_geomean = threads
            .iter()
            .map(|&t| {
                geomean(&values(&speedups(results, t, |r| {
                    matches!(r.source, Source::Workload(_))
                })))
            })
            .collect();
        let mainnet_geomean = threads
            .iter()
            .map(|&t| geomean(&values(&speedups(results, t, is_mainnet))))
            .collect();
        let mainnet_slowest = threads
            .iter()
            .map(|&t| worst(&speedups(results, t, is_mainnet), true))
            .collect();
        let ceiling = threads
            .iter()
            .map(|&t| {
                Spread::of(
                    results
                        .iter()
                        .filter(|r| r.ok())
                        .flat_map(|r| r.parallel.iter().filter(|run| run.threads == t))
                        .flat_map(|run| run.ceilings.iter().copied())
                        .collect(),
                )
            })
            .collect();
        let mainnet_2 = speedups(results, 2, is_mainnet);
        let mainnet_1 = speedups(results, 1, is_mainnet);
        let workload = |r: &BlockResult| matches!(r.source, Source::Workload(_));
        let independent = |r: &BlockResult| workload_where(r, is_independent);
        let hot = |r: &BlockResult| workload_where(r, |w| !is_independent(w));
        let exec = |threads: usize, keep: &dyn Fn(&BlockResult) -> bool| -> Vec<(String, f64)> {
            results
                .iter()
                .filter(|r| keep(r))
                .filter_map(|r| Some((r.name.clone(), r.exec_speedup_at(threads)?)))
                .collect()
        };
        let memory: Vec<(String, f64)> = results
            .iter()
            .filter(|r| r.ok() && matches!(r.source, Source::Workload(_)))
            .flat_map(|r| {
                r.parallel
                    .iter()
                    .map(|run| (format!("{}@{}", r.name, run.threads), r.mem_ratio(run)))
            })
            .collect();
        // The 2-thread workload targets list each block's ceiling beside its speedup.
        let speedup_2 = |r: &BlockResult| r.speedup_at(2);
        let exec_2 = |r: &BlockResult| r.exec_speedup_at(2);
        let (independent_2, independent_notes) =
            with_ceilings(results, 2, &independent, &speedup_2);
        let (independent_exec_2, independent_exec_notes) =
            with_ceilings(results, 2, &independent, &exec_2);
        let (hot_2, hot_notes) = with_ceilings(results, 2, &hot, &speedup_2);
        let targets = [
            worst_target(
                "workloads at 1 thread, end-to-end",
                &speedups(results, 1, workload),
                0.95,
            ),
            worst_target(
                "workloads at 1 thread, execution-only",
                &exec(1, &workload),
                0.85,
            ),
            geomean_target(
                "mainnet fixtures at 1 thread, end-to-end, geometric mean",
                &mainnet_1,
                0.95,
            ),
            geomean_target(
                "mainnet fixtures at 1 thread, execution-only, geometric mean",
                &exec(1, &is_mainnet),
                0.85,
            ),
            worst_target_with(
                "independent workloads at 2 threads, end-to-end",
                (&independent_2, &independent_notes),
                1.85,
            ),
            worst_target_with(
                "independent workloads at 2 threads, execution-only",
                (&independent_exec_2, &independent_exec_notes),
                1.7,
            ),
            worst_target_with(
                "hot-spot workloads at 2 threads, end-to-end",
                (&hot_2, &hot_notes),
                0.95,
            ),
            geomean_target(
                "mainnet fixtures at 2 threads, end-to-end, geometric mean",
                &mainnet_2,
                1.5,
            ),
            bound_target(results, 2),
            worst_target(
                "mainnet fixtures at 2 threads, end-to-end, slowest block",
                &mainnet_2,
                0.9,
            ),
            worst(&memory, false).map(|(block, value)| Target {
                name: format!(
                    "peak heap of a {} block, parallel over sequential",
                    gas_text(gas)
                ),
                measured: value,
                threshold: 1.5,
                at_least: false,
                detail: format!("worst {block}; {}", listed(&memory)),
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        Self {
            threads: threads.to_vec(),
            workload_geomean,
            mainnet_geomean,
            mainnet_slowest,
            mainnet_blocks: results.iter().filter(|r| is_mainnet(r)).count(),
            ceiling,
            targets,
            blocks: results.len(),
            failed: results.iter().filter(|r| !r.ok()).count(),
        }
    }

    pub(crate) fn to_json(&self, machine: Value) -> Value {
        let by_threads = |values: &[Option<f64>]| -> Value {
            self.threads
                .iter()
                .zip(values)
                .filter_map(|(t, v)| Some((t.to_string(), json!((*v)?))))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let slowest: serde_json::Map<String, Value> = self
            .threads
            .iter()
            .zip(&self.mainnet_slowest)
            .filter_map(|(t, s)| {
                let (block, speedup) = s.as_ref()?;
                Some((t.to_string(), json!({"block": block, "speedup": speedup})))
            })
            .collect();
        json!({
            "kind": "summary",
            "threads": self.threads,
            "blocks": self.blocks,
            "failed": self.failed,
            "workloads": {"geomean_speedup": by_threads(&self.workload_geomean)},
            "mainnet": {
                "blocks": self.mainnet_blocks,
                "geomean_speedup": by_threads(&self.mainnet_geomean),
                "slowest": slowest,
            },
            "ceiling": self
                .threads
                .iter()
                .zip(&self.ceiling)
                .filter_map(|(t, c)| Some((t.to_string(), c.as_ref()?.to_json())))
                .collect::<serde_json::Map<_, _>>(),
            "targets": self.targets.iter().map(Target::to_json).collect::<Vec<_>>(),
            "machine": machine,
        })
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let cols: Vec<String> = self
            .threads
            .iter()
            .map(|t| format!("{:>10}", format!("{t} thr")))
            .collect();
        out.push(format!(
            "{:<34}{}",
            "median speedup over sequential",
            cols.join("")
        ));
        let fmt =
            |v: &Option<f64>| v.map_or_else(|| format!("{:>10}", "-"), |s| format!("{:>9.2}x", s));
        if self.workload_geomean.iter().any(Option::is_some) {
            let v: Vec<String> = self.workload_geomean.iter().map(fmt).collect();
            out.push(format!(
                "{:<34}{}",
                "  workloads, geometric mean",
                v.join("")
            ));
        }
        if self.mainnet_geomean.iter().any(Option::is_some) {
            let v: Vec<String> = self.mainnet_geomean.iter().map(fmt).collect();
            out.push(format!(
                "{:<34}{}",
                format!("  mainnet ({}), geometric mean", self.mainnet_blocks),
                v.join("")
            ));
            let v: Vec<String> = self
                .mainnet_slowest
                .iter()
                .map(|s| fmt(&s.as_ref().map(|(_, v)| *v)))
                .collect();
            out.push(format!("{:<34}{}", "  mainnet, slowest block", v.join("")));
        }
        if self.ceiling.iter().any(Option::is_some) {
            let v: Vec<String> = self
                .ceiling
                .iter()
                .map(|c| fmt(&c.map(|c| c.median)))
                .collect();
            out.push(format!(
                "{:<34}{}",
                "  machine ceiling, median round",
                v.join("")
            ));
            for (t, c) in self.threads.iter().zip(&self.ceiling) {
                if let Some(c) = c {
                    out.push(format!(
                        "  the machine's ceiling at {t} threads (perfectly parallel work on {t} \
                         threads against one): {:.2}x to {:.2}x over {} rounds",
                        c.lowest, c.highest, c.count
                    ));
                }
            }
        }
        if !self.targets.is_empty() {
            out.push("targets".to_owned());
            out.extend(self.targets.iter().map(Target::line));
        }
        out.push(format!(
            "{} blocks: {} verified parallel == sequential, {} failed",
            self.blocks,
            self.blocks - self.failed,
            self.failed
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each listed block keeps its own note, also where two share a name (one fixture given
    /// twice): the notes go by position, not by name.
    #[test]
    fn each_item_keeps_its_own_note_whatever_its_name() {
        let items = vec![("raw".to_owned(), 1.9), ("raw".to_owned(), 1.6)];
        let notes = vec![" (ceiling 1.95x)".to_owned(), " (ceiling 1.20x)".to_owned()];
        let target = worst_target_with("t", (&items, &notes), 1.85).unwrap();
        assert!((target.measured - 1.6).abs() < 1e-12);
        assert_eq!(
            target.detail,
            "worst raw (ceiling 1.20x); raw 1.90x (ceiling 1.95x), raw 1.60x (ceiling 1.20x)"
        );
        let plain = worst_target("t", &items, 1.85).unwrap();
        assert_eq!(plain.detail, "worst raw; raw 1.90x, raw 1.60x");
    }
}
