//! `--wait DURATION` (issue 20 item 3): before the diagnosis, wait until every authoritative
//! server of the challenge's zone, at each of its addresses, and the resolvers serve the
//! `--expect-txt` value. The last step of a DNS hook (certbot's `--manual-auth-hook`, in place
//! of acme.sh's `--dnssleep`): exit 0 once the CA can find the value on whichever server it
//! asks, 1 at the deadline naming the servers that lag. The waiting is
//! [`crate::probe::dns_wait`]; this prints it.

use super::error::ToolError;
use super::signals;
use crate::config::Config;
use crate::probe::dns_view::{RawClient, Where};
use crate::probe::dns_wait::{self, Asked, Pace, Readiness, Waited, Who};
use crate::sanitize;
use std::time::Duration;

/// Between two questions to one address: often enough to return within a second of the last
/// server catching up (half an interval on average, the diagnosis after it), rarely enough
/// that a lagging address gets two queries a second; one that serves the value is not asked
/// again.
const INTERVAL: Duration = Duration::from_millis(500);

/// How the wait ended.
pub enum WaitEnd {
    Done(Waited),
    Stopped(signals::Stop),
}

/// Waits as `--wait` asks, with a progress line at a terminal, and prints the outcome on
/// stderr (stdout stays the diagnosis, JSON included).
pub fn run(config: &Config, deadline: Duration) -> Result<WaitEnd, ToolError> {
    let (Some(target), Some(expected)) = (config.targets.first(), config.expect_txt.as_deref())
    else {
        return Err(ToolError::usage(
            "--wait needs one name and --expect-txt VALUE",
        ));
    };
    let dns = crate::probe::dns::HickoryDns::new(config.resolver, config.timeout)
        .map_err(ToolError::input)?;
    let resolvers: Vec<std::net::SocketAddr> = match crate::probe::DnsProbe::describe(&dns) {
        crate::facts::Resolver::Given { address } => vec![address],
        crate::facts::Resolver::System { servers } => servers
            .into_iter()
            .map(|ip| std::net::SocketAddr::new(ip, 53))
            .collect(),
    };
    let Some(first) = resolvers.first().copied() else {
        return Err(ToolError::input(
            "--wait: no resolver to ask (none in /etc/resolv.conf): give --resolver IP",
        ));
    };
    let at = Where {
        resolver: first,
        authoritative_port: config.authoritative_port,
        timeout: config.timeout,
    };
    let challenge = format!("_acme-challenge.{}", target.domain.ascii);
    let pace = Pace {
        deadline,
        interval: INTERVAL,
        timeout: config.timeout.min(Duration::from_secs(5)),
    };
    let bar = config.progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!(
            "waiting for every nameserver to serve the TXT at {challenge}"
        ));
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let runtime = signals::runtime()?;
    let end = runtime.block_on(async {
        let mut progress = |asked: &[Asked], elapsed: Duration| {
            if let Some(bar) = &bar {
                bar.set_message(progress_line(expected, asked, elapsed, deadline));
            }
        };
        let waiting = dns_wait::wait(
            &RawClient,
            &at,
            dns_wait::Question {
                challenge: &challenge,
                expected,
                resolvers: &resolvers,
            },
            pace,
            &dns_wait::routable,
            &mut progress,
        );
        tokio::select! {
            waited = waiting => WaitEnd::Done(waited),
            stop = signals::interrupted() => WaitEnd::Stopped(stop),
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let WaitEnd::Done(waited) = &end {
        for line in outcome_lines(waited, expected, deadline) {
            eprintln!("acme-doctor: {line}");
        }
    }
    Ok(end)
}

/// `ns2.example.test (2001:db8::12)`, or `resolver 192.0.2.53`.
fn who(asked: &Asked) -> String {
    match &asked.who {
        Who::Nameserver(name) => format!("{} ({})", sanitize::line(name, 255), asked.address.ip()),
        Who::Resolver => format!("resolver {}", asked.address),
    }
}

fn progress_line(expected: &str, asked: &[Asked], elapsed: Duration, deadline: Duration) -> String {
    if asked.is_empty() {
        return format!(
            "{:.0}/{:.0} s: looking for the zone's nameservers",
            elapsed.as_secs_f64(),
            deadline.as_secs_f64()
        );
    }
    let lagging = match dns_wait::readiness(expected, asked) {
        Readiness::Ready => Vec::new(),
        Readiness::Waiting { lagging } => lagging,
    };
    let shown: Vec<String> = lagging
        .iter()
        .take(3)
        .filter_map(|i| asked.get(*i))
        .map(who)
        .collect();
    format!(
        "{:.0}/{:.0} s: {} of {} serve the value; waiting for {}{}",
        elapsed.as_secs_f64(),
        deadline.as_secs_f64(),
        asked.len() - lagging.len(),
        asked.len(),
        shown.join(", "),
        if lagging.len() > 3 {
            format!(" and {} more", lagging.len() - 3)
        } else {
            String::new()
        }
    )
}

/// What the wait found, one line each: ready, or which addresses lag and what they serve.
pub fn outcome_lines(waited: &Waited, expected: &str, deadline: Duration) -> Vec<String> {
    let servers = waited
        .asked
        .iter()
        .filter(|a| matches!(a.who, Who::Nameserver(_)))
        .count();
    let zone = waited
        .zone
        .as_deref()
        .map_or_else(|| "the zone".to_string(), |z| sanitize::line(z, 255));
    let mut lines = Vec::new();
    if waited.ready {
        lines.push(format!(
            "ready after {:.1} s: the {servers} authoritative address(es) of {zone} and the resolver(s) serve the value at {}",
            waited.elapsed.as_secs_f64(),
            sanitize::line(&waited.owner, 255),
        ));
    } else {
        let lagging = match dns_wait::readiness(expected, &waited.asked) {
            Readiness::Ready => Vec::new(),
            Readiness::Waiting { lagging } => lagging,
        };
        if waited.asked.is_empty() {
            lines.push(format!(
                "--wait {}: not ready at the deadline: {}",
                humanize(deadline),
                sanitize::line(
                    waited
                        .problem
                        .as_deref()
                        .unwrap_or("no nameserver was found"),
                    300
                )
            ));
            return lines;
        }
        lines.push(format!(
            "--wait {}: not ready at the deadline: {} of {} address(es) asked do not serve the value at {}{}",
            humanize(deadline),
            lagging.len(),
            waited.asked.len(),
            sanitize::line(&waited.owner, 255),
            waited
                .problem
                .as_deref()
                .map(|p| format!(" ({})", sanitize::line(p, 300)))
                .unwrap_or_default(),
        ));
        for asked in lagging.iter().filter_map(|i| waited.asked.get(*i)) {
            lines.push(format!(
                "  {} serves {}",
                who(asked),
                asked.heard.as_ref().map_or_else(
                    || "nothing yet (no answer in time)".to_string(),
                    ToString::to_string
                )
            ));
        }
    }
    for asked in &waited.asked {
        if let Some(dns_wait::Heard::NoRoute(_)) = &asked.heard
            && matches!(asked.who, Who::Nameserver(_))
        {
            lines.push(format!(
                "  {} was not asked: this host has no route to it (check it from elsewhere: dig +norecurse @{} {} TXT)",
                who(asked),
                asked.address.ip(),
                sanitize::line(&waited.owner, 255)
            ));
        }
    }
    lines
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::DnsOutcome;
    use crate::probe::dns_wait::Heard;

    fn asked(who: Who, address: &str, heard: Option<Heard>) -> Asked {
        Asked {
            who,
            address: address.parse().unwrap(),
            heard,
        }
    }

    fn lab() -> Vec<Asked> {
        let ns = |n: &str| Who::Nameserver(n.into());
        vec![
            asked(
                ns("ns1.example.test"),
                "203.0.113.11:53",
                Some(Heard::Values(vec!["v".into()])),
            ),
            asked(
                ns("ns2.example.test"),
                "[2001:db8:53::12]:53",
                Some(Heard::Nothing(DnsOutcome::NxDomain)),
            ),
            asked(
                ns("ns2.example.test"),
                "203.0.113.12:53",
                Some(Heard::Values(vec!["old\u{1b}[31m".into()])),
            ),
            asked(
                ns("ns3.example.test"),
                "[2001:db8:53::13]:53",
                Some(Heard::NoRoute("Network is unreachable".into())),
            ),
            asked(Who::Resolver, "203.0.113.53:53", None),
        ]
    }

    #[test]
    fn the_progress_line_names_the_addresses_still_lagging() {
        let line = progress_line("v", &lab(), Duration::from_secs(4), Duration::from_secs(60));
        assert_eq!(
            line,
            "4/60 s: 2 of 5 serve the value; waiting for ns2.example.test (2001:db8:53::12), ns2.example.test (203.0.113.12), resolver 203.0.113.53:53"
        );
    }

    #[test]
    fn at_the_deadline_each_lagging_address_is_named_with_what_it_serves() {
        let waited = Waited {
            ready: false,
            owner: "_acme-challenge.example.test".into(),
            zone: Some("example.test".into()),
            problem: None,
            asked: lab(),
            elapsed: Duration::from_secs(60),
        };
        let lines = outcome_lines(&waited, "v", Duration::from_secs(90));
        assert_eq!(
            lines[0],
            "--wait 1m30s: not ready at the deadline: 3 of 5 address(es) asked do not serve the value at _acme-challenge.example.test"
        );
        assert_eq!(
            lines[1],
            "  ns2.example.test (2001:db8:53::12) serves NXDOMAIN"
        );
        // Control characters from the network never reach the terminal.
        assert!(!lines[2].contains('\u{1b}'), "{:?}", lines[2]);
        assert!(lines[2].starts_with("  ns2.example.test (203.0.113.12) serves TXT \"old"));
        assert_eq!(
            lines[3],
            "  resolver 203.0.113.53:53 serves nothing yet (no answer in time)"
        );
        assert!(lines[4].contains("ns3.example.test (2001:db8:53::13) was not asked"));
    }
}
