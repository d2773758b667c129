//! Firewall facts: the rulesets as the tools themselves print them (`nft -j list ruleset`,
//! `iptables-save` and `ip6tables-save` for the nft and legacy backends). Each command runs
//! with fixed arguments, a timeout and an output cap; a missing tool or a permission error is
//! recorded as the reason the fact is unknown.

use crate::facts::{Family, FirewallFacts, IptablesBackend, IptablesDump, Probed, Unknown};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(5);
/// Rulesets of a few thousand rules fit easily; anything larger is cut and said so.
const OUTPUT_CAP: u64 = 8 * 1024 * 1024;

/// Runs `program args` and returns its stdout, or why it could not.
pub fn run_capped(program: &str, args: &[&str]) -> Result<String, Unknown> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A predictable, untranslated error text.
        .env("LC_ALL", "C")
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Unknown::NotInstalled {
                program: program.to_string(),
            },
            _ => Unknown::failed(format!("cannot run {program}: {e}")),
        })?;
    // A thread that cannot be started (an address-space or process limit) is a fact about
    // this run, never an abort.
    let no_thread = |child: &mut std::process::Child, e: std::io::Error| {
        let _ = child.kill();
        let _ = child.wait();
        Unknown::failed(format!("cannot read {program}'s output: {e}"))
    };
    let stdout = child.stdout.take();
    let reader = match std::thread::Builder::new().spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(OUTPUT_CAP + 1).read_to_end(&mut out);
        }
        out
    }) {
        Ok(handle) => handle,
        Err(e) => return Err(no_thread(&mut child, e)),
    };
    let stderr = child.stderr.take();
    let err_reader = match std::thread::Builder::new().spawn(move || {
        let mut err = Vec::new();
        if let Some(s) = stderr {
            let _ = s.take(64 * 1024).read_to_end(&mut err);
        }
        err
    }) {
        Ok(handle) => handle,
        Err(e) => return Err(no_thread(&mut child, e)),
    };
    let started = Instant::now();
    // Short first naps: these tools finish in about a millisecond, and the run should not wait
    // a fixed poll interval for each.
    let mut nap = Duration::from_micros(100);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Unknown::TimedOut {
                    program: program.to_string(),
                    after_ms: TIMEOUT.as_millis() as u64,
                });
            }
            Ok(None) => {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(5));
            }
            Err(e) => return Err(Unknown::failed(format!("waiting for {program}: {e}"))),
        }
    };
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let text = String::from_utf8_lossy(&err).trim().replace('\n', "; ");
        let text = crate::sanitize::line(&text, 300);
        // No typed answer exists: the errno stays inside the program, whose exit status is
        // shared with other failures (nft and iptables-legacy-save exit 1, iptables-nft-save
        // 4, "resource problem"), so only its stderr tells a missing privilege apart.
        return Err(
            if text.to_ascii_lowercase().contains("permission denied")
                || text.contains("Operation not permitted")
                || text.contains("must be root")
            {
                Unknown::PermissionDenied {
                    program: program.to_string(),
                    message: text,
                }
            } else {
                Unknown::failed(format!("{program} failed ({status}): {text}"))
            },
        );
    }
    if out.len() as u64 > OUTPUT_CAP {
        return Err(Unknown::failed(format!(
            "{program} printed more than {OUTPUT_CAP} bytes"
        )));
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn nft() -> Probed<serde_json::Value> {
    match run_capped("nft", &["-j", "list", "ruleset"]) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => Probed::Known(v),
            Err(e) => Probed::Unknown(Unknown::failed(format!("nft -j printed no JSON: {e}"))),
        },
        Err(e) => Probed::Unknown(e),
    }
}

/// The kernel's bytecode of every rule (`nft --debug=netlink list ruleset`), verbatim: the
/// listing can hide a match the kernel applies (an inet rule's `meta nfproto`).
fn nft_netlink() -> Probed<String> {
    match run_capped("nft", &["--debug=netlink", "list", "ruleset"]) {
        Ok(text) => Probed::Known(text),
        Err(e) => Probed::Unknown(e),
    }
}

/// One dump; the backend-specific program first, then the plain name, whose header says which
/// backend it is (`(nf_tables)` or `(legacy)`).
fn dump(family: Family, backend: IptablesBackend) -> IptablesDump {
    let base = match family {
        Family::Ipv4 => "iptables",
        Family::Ipv6 => "ip6tables",
    };
    let specific = match backend {
        IptablesBackend::Nft => format!("{base}-nft-save"),
        IptablesBackend::Legacy => format!("{base}-legacy-save"),
    };
    let result = match run_capped(&specific, &[]) {
        Err(Unknown::NotInstalled { .. }) => {
            let plain = format!("{base}-save");
            run_capped(&plain, &[]).and_then(|text| {
                let is_nft = text.contains("(nf_tables)");
                let wanted = backend == IptablesBackend::Nft;
                if text.trim().is_empty() || is_nft == wanted {
                    Ok(text)
                } else {
                    Err(Unknown::NotInstalled { program: specific })
                }
            })
        }
        other => other,
    };
    IptablesDump {
        family,
        backend,
        dump: match result {
            Ok(text) => Probed::Known(text),
            Err(e) => Probed::Unknown(e),
        },
    }
}

/// All six commands at once: each is a process start, and the probe waits for the slowest,
/// not the sum.
pub fn firewall_facts() -> FirewallFacts {
    std::thread::scope(|scope| {
        // Where a thread cannot be started, the command runs on this one instead.
        let nft_thread = std::thread::Builder::new().spawn_scoped(scope, nft).ok();
        let netlink_thread = std::thread::Builder::new()
            .spawn_scoped(scope, nft_netlink)
            .ok();
        let dumps: Vec<_> = [Family::Ipv4, Family::Ipv6]
            .into_iter()
            .flat_map(|f| [(f, IptablesBackend::Nft), (f, IptablesBackend::Legacy)])
            .map(|(f, b)| {
                let handle = std::thread::Builder::new()
                    .spawn_scoped(scope, move || dump(f, b))
                    .ok();
                (f, b, handle)
            })
            .collect();
        let nft = match nft_thread {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Probed::Unknown(Unknown::failed("the nft reader panicked"))),
            None => nft(),
        };
        let nft_netlink = match netlink_thread {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Probed::Unknown(Unknown::failed("the nft bytecode reader panicked"))
            }),
            None => nft_netlink(),
        };
        FirewallFacts {
            nft,
            nft_netlink: Some(nft_netlink),
            iptables: dumps
                .into_iter()
                .map(|(family, backend, handle)| match handle {
                    Some(handle) => handle.join().unwrap_or_else(|_| IptablesDump {
                        family,
                        backend,
                        dump: Probed::Unknown(Unknown::failed("the iptables reader panicked")),
                    }),
                    None => dump(family, backend),
                })
                .collect(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_a_reason_not_a_crash() {
        let err = run_capped("acme-doctor-no-such-tool", &[]).unwrap_err();
        assert!(matches!(err, Unknown::NotInstalled { .. }), "{err}");
    }

    #[test]
    fn a_failing_tool_says_how() {
        let err = run_capped("false", &[]).unwrap_err();
        assert!(err.to_string().contains("failed"), "{err}");
        assert_eq!(run_capped("echo", &["hello"]).unwrap(), "hello\n");
    }
}
