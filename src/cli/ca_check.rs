//! `--ca-check` in the pipeline (issue 19 item 1): after the probes of the run and before the
//! diagnosis, one real validation by the CA, its result attached to each target as
//! `CaEvidence { source: Check }`. After, not during: acme-doctor's own responder on port 80
//! must never hide from the probes that nothing listens there.

use super::error::ToolError;
use super::signals;
use crate::config::{CaCheckConfig, Config, Output};
use crate::facts::{CaCheckOutcome, CaEvidence, CaSaid, CaSource, CheckStage, RunFacts};
use crate::probe;

/// Runs the check for the run's targets and attaches its evidence. A signal during it stops
/// it: what it published is removed first (guards, and the registered cleanups), every name
/// gets a `NotDone` (interrupted), and the signal is returned for the exit status.
pub fn run(
    config: &Config,
    check: &CaCheckConfig,
    runs: &mut [RunFacts],
) -> Result<Option<signals::Stop>, ToolError> {
    let Some(run) = runs.first_mut() else {
        return Ok(None);
    };
    let targets = probe::acme::plan(config, check, run);
    if targets.is_empty() {
        return Ok(None);
    }
    // Files written under a webroot and TXT records published by the hook go away on
    // SIGINT/SIGTERM too, even where a guard would not be dropped.
    let _files = signals::on_interrupt(probe::token::remove_all);
    let _hooks = signals::on_interrupt(probe::acme::cleanup_all);
    if config.progress || (config.output == Output::Human && config.verbose) {
        eprintln!(
            "acme-doctor: asking {} to validate {} name(s) (--ca-check; never a certificate)…",
            crate::sanitize::line(check.directory.as_str(), 200),
            targets.len()
        );
    }
    let runtime = signals::runtime()?;
    let result = runtime.block_on(async {
        tokio::select! {
            results = probe::acme::check(check, &targets) => Ok(results),
            stop = signals::interrupted() => Err(stop),
        }
    });
    // The responders' tasks end with their runtime.
    drop(runtime);
    let at = probe::acme::now();
    let (results, stopped) = match result {
        Ok(results) => (results, None),
        Err(stop) => {
            let results = targets
                .iter()
                .map(|t| {
                    (
                        t.index,
                        crate::facts::CaCheck {
                            directory: check.directory.to_string(),
                            method: t.method,
                            published: crate::facts::Published::Nothing,
                            outcome: CaCheckOutcome::NotDone {
                                stage: CheckStage::Interrupted,
                                reason: format!("{} stopped the check", stop.name()),
                            },
                            failed_authorizations: 0,
                            elapsed_ms: 0,
                        },
                    )
                })
                .collect();
            (results, Some(stop))
        }
    };
    for (index, result) in results {
        if let Some(target) = run.targets.get_mut(index) {
            target.ca.push(CaEvidence {
                source: CaSource::Check,
                at: Some(at.clone()),
                said: CaSaid::Check(Box::new(result)),
            });
        }
    }
    Ok(stopped)
}
