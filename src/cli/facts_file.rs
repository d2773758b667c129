//! Facts files: `--from-facts` reads any version (migrated by [`crate::facts::from_json`]),
//! `--save-facts` writes the current one.

use super::error::ToolError;
use crate::facts::RunFacts;
use std::io::Read;
use std::path::Path;

/// Largest facts file accepted: saved facts are a few kilobytes; anything huge is a mistake.
const FACTS_FILE_CAP: u64 = 16 * 1024 * 1024;

pub fn load_facts(path: &Path) -> Result<Vec<RunFacts>, ToolError> {
    let shown = path.display();
    let unreadable =
        |e: std::io::Error| ToolError::input(format!("cannot read facts file {shown}: {e}"));
    // Read through a cap, not by the size the file claims: a FIFO or a device has none.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(unreadable)?
        .take(FACTS_FILE_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > FACTS_FILE_CAP {
        return Err(ToolError::input(format!(
            "facts file {shown} is larger than {FACTS_FILE_CAP} bytes"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ToolError::input(format!("facts file {shown} is not UTF-8 text")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ToolError::input(format!("facts file {shown} is not JSON: {e}")))?;
    crate::facts::from_json(value).map_err(|e| ToolError::input(format!("facts file {shown} {e}")))
}

/// Joins several facts files into one diagnosis per name: for each name, the run made on the
/// server (whose interfaces hold one of the name's addresses; else the first file that has
/// the name) is the main one, and every other file's view of that name becomes one of its
/// outside views, as if that run had been a vantage.
pub fn join_runs(files: Vec<(String, Vec<RunFacts>)>) -> Vec<RunFacts> {
    use crate::facts::{MethodFacts, Observation, VantageFacts};
    // Every (file, run, target) in order.
    let mut all: Vec<(String, RunFacts)> = Vec::new();
    for (file, runs) in files {
        for run in runs {
            all.push((file.clone(), run));
        }
    }
    let on_host = |run: &RunFacts, t: &crate::facts::TargetFacts| {
        let Some(ifaces) = run.host.interfaces.known() else {
            return false;
        };
        t.addresses()
            .any(|ip| ifaces.iter().any(|i| i.addresses.contains(ip)))
    };
    // The main (file index, run) for each name, in first-seen order.
    let mut names: Vec<(String, usize)> = Vec::new();
    for (i, (_, run)) in all.iter().enumerate() {
        for t in &run.targets {
            let name = t.target.domain.ascii.clone();
            match names.iter_mut().find(|(n, _)| *n == name) {
                Some((_, main)) => {
                    let main_run = &all[*main].1;
                    let main_on_host = main_run
                        .targets
                        .iter()
                        .any(|m| m.target.domain.ascii == name && on_host(main_run, m));
                    if !main_on_host && on_host(run, t) {
                        *main = i;
                    }
                }
                None => names.push((name, i)),
            }
        }
    }
    let mut out: Vec<RunFacts> = Vec::new();
    let mut out_of: Vec<usize> = Vec::new();
    for (name, main) in &names {
        let (_, main_run) = &all[*main];
        let Some(mut target) = main_run
            .targets
            .iter()
            .find(|t| t.target.domain.ascii == *name)
            .cloned()
        else {
            continue;
        };
        for (i, (file, run)) in all.iter().enumerate() {
            if i == *main {
                continue;
            }
            for other in run
                .targets
                .iter()
                .filter(|t| t.target.domain.ascii == *name)
            {
                // What a run elsewhere saw of the addresses: its connects, and for HTTP-01
                // its GETs; a DNS-01 run dialled nothing.
                let http01 = match &other.method {
                    MethodFacts::Http01(http01) => Some(http01.clone()),
                    MethodFacts::TlsAlpn01(_) => Some(crate::facts::Http01Facts::default()),
                    MethodFacts::Dns01(_) => None,
                };
                if let Some(http01) = http01 {
                    target.vantages.push(VantageFacts {
                        vantage: format!("file:{}", crate::sanitize::line(file, 200)),
                        observed: Ok(Observation {
                            dns: other.dns.clone(),
                            connects: other.connects.clone(),
                            http01,
                            source_address: None,
                            refused_targets: Vec::new(),
                            targets_left_out: 0,
                            own_sources: global_addresses(&run.host),
                        }),
                        elapsed_ms: other.duration_ms,
                    });
                }
                target.vantages.extend(other.vantages.iter().cloned());
            }
        }
        match out_of.iter().position(|m| m == main) {
            Some(k) => out[k].targets.push(target),
            None => {
                let mut run = main_run.clone();
                run.targets = vec![target];
                out.push(run);
                out_of.push(*main);
            }
        }
    }
    out
}

/// The global addresses of the machine a saved run was made on, one per family: where its
/// requests came from, for the host's filters (`Observation::own_sources`).
fn global_addresses(host: &crate::facts::HostFacts) -> Vec<std::net::IpAddr> {
    let mut out: Vec<std::net::IpAddr> = Vec::new();
    for ip in host
        .interfaces
        .known()
        .into_iter()
        .flatten()
        .filter(|i| i.up && !i.loopback)
        .flat_map(|i| i.addresses.iter())
    {
        let link_local = match ip {
            std::net::IpAddr::V4(a) => a.is_link_local(),
            std::net::IpAddr::V6(a) => a.is_unicast_link_local(),
        };
        if !link_local && !ip.is_loopback() && !out.iter().any(|o| o.is_ipv4() == ip.is_ipv4()) {
            out.push(*ip);
        }
    }
    out
}

/// Writes next to the target and renames (`atomic::write`), so an interrupted write never
/// leaves half a file.
pub fn save_facts(path: &Path, runs: &[RunFacts]) -> Result<(), ToolError> {
    let text = if runs.len() == 1 {
        serde_json::to_string_pretty(&runs[0])
    } else {
        serde_json::to_string_pretty(runs)
    }
    .map_err(|e| ToolError::internal(format!("cannot encode facts: {e}")))?;
    super::atomic::write(path, (text + "\n").as_bytes())
        .map_err(|e| ToolError::input(format!("cannot write facts file {}: {e}", path.display())))
}
