//! `--ca-check` (issue 19 item 1): one real validation against an ACME directory, the CA as
//! the decisive outside view.
//!
//! A new account key per run (never written anywhere; External Account Binding when asked),
//! ONE order for every name of the run, and per authorization the challenge of the name's
//! method published ([`publish`]), the CA asked to validate it, and the authorization polled
//! with backoff until the CA decides or the check's deadline passes. The whole authorization
//! is then read as the CA sent it ([`objects`]: status, problem, every `validationRecord`),
//! what was published is removed, and the authorizations this run created are deactivated.
//! The order is never finalized: no certificate is ever requested.
//!
//! It runs after the probes of the run, so that a responder of its own on port 80 can never
//! hide from them that nothing listens there; the CLI attaches the result to each target as
//! `CaEvidence { source: Check, said: Check(..) }` before the diagnosis.
//!
//! A check that cannot give a verdict (no network, the directory silent, the challenge not
//! publishable, the deadline) ends `NotDone` with its stage: never a blame.

pub mod objects;
pub mod publish;
pub mod transport;

use crate::config::{CaCheckConfig, Config};
use crate::facts::{
    CaCheck, CaCheckOutcome, CheckStage, HostFacts, Method, Moment, Published, RunFacts,
    TargetFacts,
};
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Error, ExternalAccountKey, Identifier, NewAccount,
    NewOrder,
};
use publish::Plan;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use publish::cleanup_all;

/// One name to validate.
#[derive(Debug, Clone)]
pub struct CheckTarget {
    /// Its index in the run's targets.
    pub index: usize,
    /// The identifier as the CA writes it in an authorization (`*.example.com`,
    /// `example.com`, `192.0.2.1`).
    pub key: String,
    pub domain: crate::domain::DomainName,
    pub method: Method,
    pub plan: Plan,
}

/// How long one request to the CA may take.
const PER_REQUEST: Duration = Duration::from_secs(30);
/// Deactivating what the run created is bounded too: it must not hold an answer back.
const DEACTIVATE_TIME: Duration = Duration::from_secs(5);

/// The names of the run to validate, each with how its challenge will be published. Pure:
/// it reads the host facts the probes gathered (who holds ports 80 and 443, nginx's
/// configuration for `--webroot auto`).
pub fn plan(config: &Config, check: &CaCheckConfig, run: &RunFacts) -> Vec<CheckTarget> {
    run.targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let spec = config
                .targets
                .get(index)
                .filter(|t| t.domain.ascii == target.target.domain.ascii)
                .or_else(|| {
                    config
                        .targets
                        .iter()
                        .find(|t| t.domain.ascii == target.target.domain.ascii)
                })
                .map(|t| t.spec.clone())
                .unwrap_or_else(|| crate::config::TargetSpec::of_run(config.method));
            let domain = target.target.domain.clone();
            let plan = plan_one(config, check, &run.host, target, &spec);
            CheckTarget {
                index,
                key: identifier_key(&domain),
                domain,
                method: spec.method,
                plan,
            }
        })
        .collect()
}

fn identifier_key(domain: &crate::domain::DomainName) -> String {
    if domain.wildcard {
        format!("*.{}", domain.ascii)
    } else {
        domain.ascii.clone()
    }
}

fn plan_one(
    config: &Config,
    check: &CaCheckConfig,
    host: &HostFacts,
    target: &TargetFacts,
    spec: &crate::config::TargetSpec,
) -> Plan {
    match spec.method {
        Method::Dns01 => match &check.dns_hook {
            Some(hook) => Plan::DnsHook(hook.clone()),
            None => Plan::Refused(
                "dns-01: acme-doctor publishes the TXT record only through --dns-hook CMD".into(),
            ),
        },
        Method::TlsAlpn01 => match holder(host, 443) {
            None => Plan::StandaloneTls,
            Some(who) => Plan::Refused(format!(
                "tls-alpn-01: port 443 is held by {who}, so acme-doctor cannot answer the CA there; run the check while that server is stopped, or use http-01"
            )),
        },
        Method::Http01 => {
            if let Some(root) = &spec.webroot {
                let cert = spec.certificate.as_ref();
                let owner = cert.and_then(|c| c.owner.as_ref());
                if let Some(why) = owner.and_then(|o| o.untrusted.as_ref()) {
                    return Plan::Refused(format!(
                        "webroot {}: its configuration is not trusted ({why}); no file was written",
                        root.display()
                    ));
                }
                return Plan::Webroot {
                    root: root.clone(),
                    from: cert.map_or_else(
                        || "the client's configuration".to_string(),
                        |c| c.config.clone(),
                    ),
                    writer: owner.map(|o| crate::probe::token::Writer {
                        uid: o.uid,
                        gid: o.gid,
                    }),
                };
            }
            if let Some(root) = &config.webroot {
                return Plan::Webroot {
                    root: root.clone(),
                    from: "--webroot".into(),
                    writer: None,
                };
            }
            if check.webroot_auto {
                return auto_webroot(host, target);
            }
            match holder(host, 80) {
                None => Plan::StandaloneHttp,
                Some(who) => Plan::Refused(format!(
                    "http-01: port 80 is held by {who} and no webroot was given, so acme-doctor cannot publish the challenge: add --webroot DIR (the directory that server serves /.well-known/acme-challenge/ from) or --webroot auto"
                )),
            }
        }
    }
}

/// Who listens on `port`, in words; `None` when nothing does (or the listeners could not be
/// read: then binding tells).
fn holder(host: &HostFacts, port: u16) -> Option<String> {
    let listeners = host.listeners.known()?;
    let held: Vec<String> = listeners
        .iter()
        .filter(|l| l.port == port)
        .map(|l| match &l.process {
            Some(p) => format!(
                "{} (pid {}) on {}",
                crate::sanitize::line(&p.name, 60),
                p.pid,
                std::net::SocketAddr::new(l.address, l.port)
            ),
            None => std::net::SocketAddr::new(l.address, l.port).to_string(),
        })
        .collect();
    (!held.is_empty()).then(|| held.join(", "))
}

/// `--webroot auto`: the directory nginx serves `/.well-known/acme-challenge/` from for this
/// name, read from `nginx -T` as the diagnosis reads it (`webconf::route`).
fn auto_webroot(host: &HostFacts, target: &TargetFacts) -> Plan {
    let refused = |why: String| Plan::Refused(format!("--webroot auto: {why}"));
    let Some(web) = &host.web_server else {
        return refused("the web server's configuration was not read".into());
    };
    let dump = match &web.nginx {
        crate::facts::Probed::Known(n) => &n.dump,
        crate::facts::Probed::Unknown(u) => {
            return refused(format!("nginx -T could not be read ({u})"));
        }
    };
    let config = match crate::webconf::nginx::load(dump) {
        Ok(c) => c,
        Err(e) => return refused(format!("nginx's configuration does not parse: {e}")),
    };
    let domain = &target.target.domain;
    // Where the CA's connection arrives: the name's first address, IPv6 first as the CA
    // dials; a name without one asks nginx's wildcard listens.
    let dest = domain
        .ip
        .or_else(|| {
            target.dns.as_ref().and_then(|d| {
                d.aaaa
                    .addresses
                    .first()
                    .or_else(|| d.a.addresses.first())
                    .copied()
            })
        })
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let Some(route) = crate::webconf::route(&config, dest, 80, &domain.ascii, "token") else {
        return refused(format!("no nginx server listens on port 80 for {dest}"));
    };
    let docroot = &route.docroot;
    if docroot.variable {
        return refused(format!(
            "nginx's {} holds a variable acme-doctor cannot settle; give --webroot DIR",
            docroot.directive
        ));
    }
    let Some(root) = docroot
        .challenge_dir
        .strip_suffix(crate::webconf::CHALLENGE_DIR)
        .filter(|r| r.starts_with('/'))
    else {
        return refused(format!(
            "nginx serves the challenge from {} ({}), not from a root's .well-known/acme-challenge; give --webroot DIR",
            docroot.challenge_dir, docroot.directive
        ));
    };
    let at = docroot
        .pos
        .as_ref()
        .map(|p| format!(" ({}:{})", p.file, p.line))
        .unwrap_or_default();
    Plan::Webroot {
        root: std::path::PathBuf::from(if root.is_empty() { "/" } else { root }),
        from: format!("nginx: {}{at}", docroot.directive),
        writer: None,
    }
}

/// Why the check stopped without a verdict for the names still open.
#[derive(Debug)]
struct Stop {
    stage: CheckStage,
    reason: String,
}

impl Stop {
    fn new(stage: CheckStage, reason: impl Into<String>) -> Stop {
        Stop {
            stage,
            reason: crate::sanitize::line(&reason.into(), 1000),
        }
    }
}

/// Awaits `fut` until `deadline`.
async fn within<T>(
    deadline: Instant,
    stage: CheckStage,
    what: &str,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Stop> {
    match tokio::time::timeout_at(deadline.into(), fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Stop::new(stage, format!("{what}: {}", error_words(&e)))),
        Err(_) => Err(Stop::new(
            CheckStage::Interrupted,
            format!("{what}: the check's deadline passed"),
        )),
    }
}

fn error_words(e: &Error) -> String {
    match e {
        Error::Api(p) => format!(
            "the CA answered {}: {}",
            p.r#type.as_deref().unwrap_or("a problem"),
            p.detail.as_deref().unwrap_or("")
        ),
        other => other.to_string(),
    }
}

/// The result of one name.
#[derive(Debug, Clone)]
struct Done {
    published: Published,
    outcome: CaCheckOutcome,
    failed: u32,
}

/// Runs the check for every target; one result per target, in order, with the check's
/// directory, method, what was published and how long it took.
pub async fn check(settings: &CaCheckConfig, targets: &[CheckTarget]) -> Vec<(usize, CaCheck)> {
    let started = Instant::now();
    let deadline = started + settings.deadline;
    let mut done: Vec<Option<Done>> = vec![None; targets.len()];
    let mut published: Vec<Published> = vec![Published::Nothing; targets.len()];
    for (slot, t) in done.iter_mut().zip(targets) {
        if let Plan::Refused(reason) = &t.plan {
            *slot = Some(Done {
                published: Published::Nothing,
                outcome: CaCheckOutcome::NotDone {
                    stage: CheckStage::Publish,
                    reason: crate::sanitize::line(reason, 1000),
                },
                failed: 0,
            });
        }
    }
    if done.iter().any(Option::is_none)
        && let Err(stop) = run_order(settings, targets, deadline, &mut done, &mut published).await
    {
        for (slot, p) in done.iter_mut().zip(&published) {
            if slot.is_none() {
                *slot = Some(Done {
                    published: p.clone(),
                    outcome: CaCheckOutcome::NotDone {
                        stage: stop.stage,
                        reason: stop.reason.clone(),
                    },
                    failed: 0,
                });
            }
        }
    }
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    targets
        .iter()
        .zip(done)
        .map(|(t, d)| {
            let d = d.unwrap_or_else(|| Done {
                published: Published::Nothing,
                outcome: CaCheckOutcome::NotDone {
                    stage: CheckStage::Validate,
                    reason: "the CA's order held no authorization for this name".into(),
                },
                failed: 0,
            });
            (
                t.index,
                CaCheck {
                    directory: settings.directory.to_string(),
                    method: t.method,
                    published: d.published,
                    outcome: d.outcome,
                    failed_authorizations: d.failed,
                    elapsed_ms,
                },
            )
        })
        .collect()
}

fn challenge_type(method: Method) -> ChallengeType {
    match method {
        Method::Http01 => ChallengeType::Http01,
        Method::Dns01 => ChallengeType::Dns01,
        Method::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}

fn identifier(domain: &crate::domain::DomainName) -> Identifier {
    match domain.ip {
        Some(ip) => Identifier::Ip(ip),
        None => Identifier::Dns(identifier_key(domain)),
    }
}

/// The account, the order, and every open name through publish, validate, read, clean up.
/// An `Err` leaves the names without a result to the caller, with its stage.
async fn run_order(
    settings: &CaCheckConfig,
    targets: &[CheckTarget],
    deadline: Instant,
    done: &mut [Option<Done>],
    published: &mut [Published],
) -> Result<(), Stop> {
    let transport = transport::Transport::new(settings.ca_cert.as_deref(), PER_REQUEST)
        .map_err(|e| Stop::new(CheckStage::Directory, e))?;
    let eab = settings
        .eab
        .as_ref()
        .map(|e| ExternalAccountKey::new(e.kid.clone(), &e.hmac_key));
    // A new key per run, held in memory only; the credentials returned are dropped.
    let (account, _credentials) = within(
        deadline,
        CheckStage::Directory,
        "creating a throwaway ACME account",
        Account::builder_with_http(Box::new(transport.clone())).create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.to_string(),
            eab.as_ref(),
        ),
    )
    .await?;
    let open: Vec<usize> = (0..targets.len()).filter(|i| done[*i].is_none()).collect();
    let identifiers: Vec<Identifier> = open
        .iter()
        .map(|i| identifier(&targets[*i].domain))
        .collect();
    let all_names = open
        .iter()
        .map(|i| targets[*i].key.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let ordered = tokio::time::timeout_at(
        deadline.into(),
        account.new_order(&NewOrder::new(&identifiers)),
    )
    .await;
    let mut order = match ordered {
        Ok(Ok(order)) => order,
        // The CA refused the order (a rate limit, a rejected identifier): its answer, with
        // Retry-After, is the verdict for every name of it; nothing was consumed.
        Ok(Err(Error::Api(typed))) => {
            let problem = transport
                .record()
                .last_error()
                .and_then(|a| objects::problem_of(&a.body, a.retry_after_s))
                .unwrap_or_else(|| from_typed(&typed));
            for i in &open {
                done[*i] = Some(Done {
                    published: Published::Nothing,
                    outcome: CaCheckOutcome::Invalid {
                        problem: problem.clone(),
                        records: Vec::new(),
                    },
                    failed: 0,
                });
            }
            return Ok(());
        }
        Ok(Err(e)) => {
            return Err(Stop::new(
                CheckStage::Order,
                format!("creating the order: {}", error_words(&e)),
            ));
        }
        Err(_) => {
            return Err(Stop::new(
                CheckStage::Interrupted,
                "creating the order: the check's deadline passed",
            ));
        }
    };

    // Publish each challenge and ask the CA to validate it. The guards live until every
    // verdict is in (or this function returns: then they are dropped, which removes all).
    let mut guards: Vec<publish::Publication> = Vec::new();
    let mut ours: HashMap<String, usize> = HashMap::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(handle) = tokio::time::timeout_at(deadline.into(), authorizations.next())
            .await
            .map_err(|_| {
                Stop::new(
                    CheckStage::Interrupted,
                    "reading the authorizations: the check's deadline passed",
                )
            })?
        {
            let mut handle = handle.map_err(|e| {
                Stop::new(
                    CheckStage::Order,
                    format!("reading an authorization: {}", error_words(&e)),
                )
            })?;
            let key = handle.identifier().to_string();
            let Some(&i) = open.iter().find(|i| targets[**i].key == key) else {
                continue;
            };
            let url = handle.url().to_string();
            let kind = challenge_type(targets[i].method);
            match handle.status {
                AuthorizationStatus::Pending => {}
                // Already valid for this fresh account (a CA reusing authorizations): the
                // CA has validated this name; read it as it is.
                AuthorizationStatus::Valid => {
                    ours.insert(url, i);
                    continue;
                }
                other => {
                    done[i] = Some(Done {
                        published: Published::Nothing,
                        outcome: CaCheckOutcome::NotDone {
                            stage: CheckStage::Order,
                            reason: format!("the new authorization is {other:?}"),
                        },
                        failed: 0,
                    });
                    continue;
                }
            }
            let Some(mut challenge) = handle.challenge(kind.clone()) else {
                done[i] = Some(Done {
                    published: Published::Nothing,
                    outcome: CaCheckOutcome::NotDone {
                        stage: CheckStage::Order,
                        reason: format!(
                            "the CA offers no {} challenge for {key}",
                            targets[i].method.as_str()
                        ),
                    },
                    failed: 0,
                });
                continue;
            };
            let key_authorization = challenge.key_authorization();
            let digest = key_authorization.digest();
            let dns_value = key_authorization.dns_value();
            let name = targets[i].domain.ascii.clone();
            let token = challenge.token.clone();
            let wanted = publish::Challenge {
                name: &name,
                ip: targets[i].domain.ip,
                token: &token,
                key_authorization: key_authorization.as_str(),
                digest: digest.as_ref(),
                dns_value: &dns_value,
                all_names: &all_names,
            };
            match publish::publish(&targets[i].plan, &wanted).await {
                Ok((guard, fact)) => {
                    guards.push(guard);
                    published[i] = fact;
                }
                Err(reason) => {
                    done[i] = Some(Done {
                        published: Published::Nothing,
                        outcome: CaCheckOutcome::NotDone {
                            stage: CheckStage::Publish,
                            reason: crate::sanitize::line(&reason, 1000),
                        },
                        failed: 0,
                    });
                    // Left pending: deactivated with the others below.
                    ours.insert(url, i);
                    continue;
                }
            }
            ours.insert(url, i);
            if let Err(stop) = within(
                deadline,
                CheckStage::Validate,
                "asking the CA to validate",
                challenge.set_ready(),
            )
            .await
            {
                // A problem in the answer is read with the authorization below.
                if stop.stage == CheckStage::Interrupted {
                    return Err(stop);
                }
            }
        }
    }

    // Poll every authorization of ours until the CA decides, with backoff (Boulder answers
    // in seconds; `Retry-After` is not sent on authorizations).
    let mut delay = Duration::from_millis(200);
    loop {
        let mut pending = false;
        let mut authorizations = order.authorizations();
        while let Some(handle) = authorizations.next().await {
            let Ok(mut handle) = handle else { continue };
            let Some(&i) = ours.get(handle.url()) else {
                continue;
            };
            if done[i].is_some() {
                continue;
            }
            let url = handle.url().to_string();
            let status = match within(
                deadline,
                CheckStage::Validate,
                "reading the authorization",
                handle.refresh(),
            )
            .await
            {
                Ok(state) => state.status,
                Err(stop) => return Err(stop),
            };
            let kind = challenge_type(targets[i].method);
            let read = transport
                .record()
                .last_body(&url)
                .and_then(|a| objects::challenge_of(&a.body, kind_name(&kind)))
                .unwrap_or_default();
            match status {
                AuthorizationStatus::Pending => pending = true,
                AuthorizationStatus::Valid => {
                    done[i] = Some(Done {
                        published: published[i].clone(),
                        outcome: CaCheckOutcome::Valid {
                            records: read.records,
                        },
                        failed: 0,
                    });
                }
                AuthorizationStatus::Invalid => {
                    let problem =
                        read.problem
                            .clone()
                            .unwrap_or_else(|| {
                                crate::facts::AcmeProblem {
                            type_urn: String::new(),
                            detail:
                                "the CA marked the authorization invalid without a problem document"
                                    .into(),
                            status: None,
                            identifier: None,
                            subproblems: Vec::new(),
                            retry_after_s: None,
                        }
                            });
                    done[i] = Some(Done {
                        published: published[i].clone(),
                        outcome: CaCheckOutcome::Invalid {
                            problem,
                            records: read.records,
                        },
                        failed: 1,
                    });
                }
                other => {
                    done[i] = Some(Done {
                        published: published[i].clone(),
                        outcome: CaCheckOutcome::NotDone {
                            stage: CheckStage::Validate,
                            reason: format!("the authorization became {other:?}"),
                        },
                        failed: 0,
                    });
                }
            }
        }
        if !pending {
            break;
        }
        let now = Instant::now();
        if now + delay >= deadline {
            // Unpublish and deactivate below; the names still pending get no verdict.
            for (i, slot) in done.iter_mut().enumerate() {
                if slot.is_none() && ours.values().any(|v| *v == i) {
                    *slot = Some(Done {
                        published: published[i].clone(),
                        outcome: CaCheckOutcome::NotDone {
                            stage: CheckStage::Interrupted,
                            reason: format!(
                                "the CA gave no verdict within the check's {} s",
                                settings.deadline.as_secs()
                            ),
                        },
                        failed: 0,
                    });
                }
            }
            break;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(2));
    }

    // Take down what was published, then deactivate the authorizations this run created so
    // they leave nothing usable behind.
    drop(guards);
    let until = Instant::now() + DEACTIVATE_TIME;
    let mut authorizations = order.authorizations();
    while let Ok(Some(handle)) = tokio::time::timeout_at(until.into(), authorizations.next()).await
    {
        let Ok(mut handle) = handle else { continue };
        if !ours.contains_key(handle.url()) {
            continue;
        }
        if matches!(
            handle.status,
            AuthorizationStatus::Pending | AuthorizationStatus::Valid
        ) {
            let _ = tokio::time::timeout_at(until.into(), handle.deactivate()).await;
        }
    }
    Ok(())
}

fn kind_name(kind: &ChallengeType) -> &'static str {
    match kind {
        ChallengeType::Http01 => "http-01",
        ChallengeType::Dns01 => "dns-01",
        ChallengeType::TlsAlpn01 => "tls-alpn-01",
        _ => "",
    }
}

/// instant-acme's typed problem, when the raw answer could not be read.
fn from_typed(p: &instant_acme::Problem) -> crate::facts::AcmeProblem {
    crate::facts::AcmeProblem {
        type_urn: crate::sanitize::line(p.r#type.as_deref().unwrap_or(""), 256),
        detail: crate::sanitize::line(p.detail.as_deref().unwrap_or(""), crate::facts::MAX_CA_TEXT),
        status: p.status,
        identifier: None,
        subproblems: Vec::new(),
        retry_after_s: None,
    }
}

/// Now, for `CaEvidence::at`.
pub fn now() -> Moment {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Moment::from_unix(unix)
}
