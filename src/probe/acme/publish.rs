//! Putting the CA's challenge where the CA looks, and taking it away again on every way out.
//!
//! - HTTP-01 through a webroot: the file is written by `probe::token` (no symlink out of the
//!   webroot, nothing existing touched, the owner's permissions), removed when its guard
//!   drops and by `token::remove_all` on a signal.
//! - HTTP-01 standalone (nothing holds port 80) and TLS-ALPN-01 standalone (nothing holds
//!   443): acme-doctor's own responder on both families, serving this one challenge only;
//!   its tasks end when the guard drops, its sockets with the process.
//! - DNS-01 through `--dns-hook CMD`, run as certbot runs its manual hooks: `sh -c` with
//!   `CERTBOT_DOMAIN`, `CERTBOT_VALIDATION`, `CERTBOT_TOKEN`, `CERTBOT_ALL_DOMAINS`,
//!   `CERTBOT_REMAINING_CHALLENGES`, plus `ACME_DOCTOR_HOOK=publish|cleanup`, which is also
//!   the command's last argument. The cleanup runs when the guard drops, and from
//!   [`cleanup_all`] (which the CLI registers for SIGINT/SIGTERM) if a signal comes first.

use super::super::token::{self, TokenFile, Writer};
use crate::facts::Published;
use bytes::Bytes;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The ALPN protocol of TLS-ALPN-01 (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// How long one hook command may run before it is killed.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// How a challenge will be published, decided before any order is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// HTTP-01: a file under this webroot, written with `writer`'s permissions when given.
    Webroot {
        root: PathBuf,
        from: String,
        writer: Option<Writer>,
    },
    /// HTTP-01: acme-doctor's responder on port 80.
    StandaloneHttp,
    /// TLS-ALPN-01: acme-doctor's responder on port 443.
    StandaloneTls,
    /// DNS-01: the user's hook.
    DnsHook(String),
    /// It cannot be published; the reason says what would make it possible.
    Refused(String),
}

/// One challenge as the CA gave it.
pub struct Challenge<'a> {
    /// The name as the hook sees it (no `*.`), or the IP address.
    pub name: &'a str,
    pub ip: Option<std::net::IpAddr>,
    pub token: &'a str,
    pub key_authorization: &'a str,
    /// SHA-256 of the key authorization (TLS-ALPN-01's acmeIdentifier).
    pub digest: &'a [u8],
    /// base64url of the digest (DNS-01's TXT value).
    pub dns_value: &'a str,
    /// Every name of the order, space-separated (`CERTBOT_ALL_DOMAINS`).
    pub all_names: &'a str,
}

/// Something published; dropping it takes it away.
pub enum Publication {
    Webroot(TokenFile),
    Responder(Responder),
    Hook(HookGuard),
}

/// Publishes `challenge` as `plan` says. The error is the reason, in words.
pub async fn publish(
    plan: &Plan,
    challenge: &Challenge<'_>,
) -> Result<(Publication, Published), String> {
    match plan {
        Plan::Webroot { root, from, writer } => {
            let given = token::Given {
                token: challenge.token.to_string(),
                content: challenge.key_authorization.to_string(),
            };
            let file = token::create_given(root, &given, writer.as_ref())
                .map_err(|e| format!("webroot {}: {e}", root.display()))?;
            Ok((
                Publication::Webroot(file),
                Published::Webroot {
                    root: root.display().to_string(),
                    from: from.clone(),
                },
            ))
        }
        Plan::StandaloneHttp => {
            let responder = http_responder(challenge.token, challenge.key_authorization)?;
            let bound = responder.bound();
            Ok((
                Publication::Responder(responder),
                Published::Standalone { port: 80, bound },
            ))
        }
        Plan::StandaloneTls => {
            let responder = tls_responder(challenge)?;
            let bound = responder.bound();
            Ok((
                Publication::Responder(responder),
                Published::Standalone { port: 443, bound },
            ))
        }
        Plan::DnsHook(command) => {
            let guard = HookGuard::publish(command, challenge).await?;
            Ok((
                Publication::Hook(guard),
                Published::DnsHook {
                    command: crate::sanitize::line(command, 300),
                },
            ))
        }
        Plan::Refused(reason) => Err(reason.clone()),
    }
}

/// acme-doctor's own responder: the tasks that accept on each bound socket.
pub struct Responder {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    bound: Vec<SocketAddr>,
}

impl Responder {
    fn bound(&self) -> Vec<String> {
        self.bound.iter().map(ToString::to_string).collect()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Binds `port` on the IPv6 wildcard (IPv6 only) and the IPv4 wildcard: the CA may come over
/// either family. At least one must bind.
fn bind_both(port: u16) -> Result<Vec<tokio::net::TcpListener>, String> {
    use socket2::{Domain, Socket, Type};
    let mut listeners = Vec::new();
    let mut errors = Vec::new();
    let addrs = [
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
    ];
    for addr in addrs {
        let bound = (|| -> std::io::Result<tokio::net::TcpListener> {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            if addr.is_ipv6() {
                socket.set_only_v6(true)?;
            }
            socket.set_reuse_address(true)?;
            socket.set_nonblocking(true)?;
            socket.bind(&addr.into())?;
            socket.listen(64)?;
            tokio::net::TcpListener::from_std(socket.into())
        })();
        match bound {
            Ok(l) => listeners.push(l),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    if listeners.is_empty() {
        return Err(format!(
            "cannot listen on port {port}: {}",
            errors.join("; ")
        ));
    }
    Ok(listeners)
}

/// The most connections a responder serves at once, and how long one may take.
const RESPONDER_CONNECTIONS: usize = 32;
const RESPONDER_CONNECTION_TIME: Duration = Duration::from_secs(15);

/// HTTP-01: answers `GET /.well-known/acme-challenge/<token>` with the key authorization, and
/// 404 to anything else.
fn http_responder(token: &str, key_authorization: &str) -> Result<Responder, String> {
    let path: Arc<str> = Arc::from(format!("/.well-known/acme-challenge/{token}"));
    let body = Bytes::from(key_authorization.to_string());
    Ok(serve_each(bind_both(80)?, move |stream| {
        let (path, body) = (Arc::clone(&path), body.clone());
        async move {
            let service = hyper::service::service_fn(move |req| {
                let answer = answer_http01(&req, &path, &body);
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(RESPONDER_CONNECTION_TIME, conn).await;
        }
    }))
}

fn answer_http01(
    req: &hyper::Request<hyper::body::Incoming>,
    path: &str,
    body: &Bytes,
) -> hyper::Response<http_body_util::Full<Bytes>> {
    let hit = req.method() == hyper::Method::GET && req.uri().path() == path;
    let (status, body) = if hit {
        (hyper::StatusCode::OK, body.clone())
    } else {
        (hyper::StatusCode::NOT_FOUND, Bytes::new())
    };
    let mut response = hyper::Response::new(http_body_util::Full::new(body));
    *response.status_mut() = status;
    response
}

/// TLS-ALPN-01: a self-signed certificate for the identifier with the critical acmeIdentifier
/// extension holding the key authorization's SHA-256 (RFC 8737 §3), offered only with ALPN
/// `acme-tls/1`.
fn tls_responder(challenge: &Challenge<'_>) -> Result<Responder, String> {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert_error = |e: rcgen::Error| format!("cannot make the TLS-ALPN-01 certificate: {e}");
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = vec![match challenge.ip {
        Some(ip) => rcgen::SanType::IpAddress(ip),
        None => rcgen::SanType::DnsName(challenge.name.to_string().try_into().map_err(cert_error)?),
    }];
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
        challenge.digest,
    )];
    let key = rcgen::KeyPair::generate().map_err(cert_error)?;
    let cert = params.self_signed(&key).map_err(cert_error)?;
    crate::probe::http::ensure_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Not `with_single_cert`: it parses the certificate with webpki, which refuses the
    // critical acmeIdentifier extension this certificate exists to carry.
    let signing = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.serialize_der(),
        )))
        .map_err(|e| format!("TLS: {e}"))?;
    let certified = Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCertificate(certified)));
    config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    Ok(serve_each(bind_both(443)?, move |stream| {
        let acceptor = acceptor.clone();
        async move {
            // The handshake is the whole validation; then the connection is closed.
            if let Ok(Ok(mut tls)) =
                tokio::time::timeout(RESPONDER_CONNECTION_TIME, acceptor.accept(stream)).await
            {
                use tokio::io::AsyncWriteExt;
                let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await;
            }
        }
    }))
}

/// Accepts on every listener and runs `serve` on each connection, at most
/// [`RESPONDER_CONNECTIONS`] at once (one more is closed at once). A failing `accept` (out of
/// descriptors) waits a moment instead of spinning.
fn serve_each<F, Fut>(listeners: Vec<tokio::net::TcpListener>, serve: F) -> Responder
where
    F: Fn(tokio::net::TcpStream) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(RESPONDER_CONNECTIONS));
    let mut responder = Responder {
        tasks: Vec::new(),
        bound: Vec::new(),
    };
    for listener in listeners {
        if let Ok(addr) = listener.local_addr() {
            responder.bound.push(addr);
        }
        let (serve, slots) = (serve.clone(), Arc::clone(&slots));
        responder.tasks.push(tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    continue;
                };
                let connection = serve(stream);
                tokio::spawn(async move {
                    connection.await;
                    drop(slot);
                });
            }
        }));
    }
    responder
}

/// The challenge certificate, whatever the client's SNI (an IP identifier's is its reverse
/// name, RFC 8738 §6).
#[derive(Debug)]
struct OneCertificate(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCertificate {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// A hook's cleanup still owed: the command and its environment.
#[derive(Clone)]
struct Owed {
    command: String,
    env: Vec<(String, String)>,
}

/// Cleanups owed by hooks whose publish ran, for [`cleanup_all`].
static OWED: Mutex<Vec<(u64, Owed)>> = Mutex::new(Vec::new());
static NEXT_OWED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A published TXT record: dropping it runs the hook's cleanup, once.
pub struct HookGuard {
    id: u64,
}

impl HookGuard {
    async fn publish(command: &str, challenge: &Challenge<'_>) -> Result<HookGuard, String> {
        let env = vec![
            ("CERTBOT_DOMAIN".to_string(), challenge.name.to_string()),
            (
                "CERTBOT_VALIDATION".to_string(),
                challenge.dns_value.to_string(),
            ),
            ("CERTBOT_TOKEN".to_string(), challenge.token.to_string()),
            (
                "CERTBOT_ALL_DOMAINS".to_string(),
                challenge.all_names.to_string(),
            ),
            ("CERTBOT_REMAINING_CHALLENGES".to_string(), "0".to_string()),
        ];
        let owed = Owed {
            command: command.to_string(),
            env,
        };
        // Owed before it runs: a hook killed half-way may have published already.
        let id = NEXT_OWED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        owed_list().push((id, owed.clone()));
        let guard = HookGuard { id };
        let ran = tokio::task::spawn_blocking(move || run_hook(&owed, "publish"))
            .await
            .unwrap_or_else(|e| Err(format!("the hook's thread failed: {e}")));
        ran.map(|()| guard)
    }
}

impl Drop for HookGuard {
    fn drop(&mut self) {
        let owed = {
            let mut list = owed_list();
            let at = list.iter().position(|(id, _)| *id == self.id);
            at.map(|i| list.remove(i).1)
        };
        if let Some(owed) = owed {
            let _ = run_hook(&owed, "cleanup");
        }
    }
}

fn owed_list() -> std::sync::MutexGuard<'static, Vec<(u64, Owed)>> {
    OWED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs every hook cleanup still owed. The CLI registers it for SIGINT and SIGTERM; safe to
/// call twice.
pub fn cleanup_all() {
    let owed = std::mem::take(&mut *owed_list());
    for (_, o) in owed {
        let _ = run_hook(&o, "cleanup");
    }
}

/// `sh -c 'CMD "$@"' acme-doctor-hook STEP`, with the certbot variables and
/// `ACME_DOCTOR_HOOK=STEP`, killed (by its own pid) after [`HOOK_TIMEOUT`].
fn run_hook(owed: &Owed, step: &str) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let script = format!("{} \"$@\"", owed.command);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("acme-doctor-hook")
        .arg(step)
        .envs(owed.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("ACME_DOCTOR_HOOK", step)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("--dns-hook {step}: cannot start sh: {e}"))?;
    let deadline = std::time::Instant::now() + HOOK_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = (&mut e).take(2000).read_to_string(&mut err);
                }
                return Err(format!(
                    "--dns-hook {step} failed ({status}): {}",
                    crate::sanitize::line(err.trim(), 500)
                ));
            }
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "--dns-hook {step} did not finish within {} s",
                    HOOK_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("--dns-hook {step}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_is_called_as_certbot_calls_it_and_cleaned_up_on_drop() {
        let dir = std::env::temp_dir().join(format!("acme-doctor-hook-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        // The step also comes as the last argument, after the redirection.
        let command = format!(
            "printf '%s %s %s %s\\n' \"$ACME_DOCTOR_HOOK\" \"$CERTBOT_DOMAIN\" \"$CERTBOT_VALIDATION\" >> {}",
            log.display()
        );
        let challenge = Challenge {
            name: "example.test",
            ip: None,
            token: "tok",
            key_authorization: "tok.thumb",
            digest: &[0; 32],
            dns_value: "VALUE",
            all_names: "example.test",
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (publication, published) = runtime
            .block_on(publish(&Plan::DnsHook(command), &challenge))
            .unwrap();
        assert!(matches!(published, Published::DnsHook { .. }));
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text, "publish example.test VALUE publish\n");
        drop(publication);
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text,
            "publish example.test VALUE publish\ncleanup example.test VALUE cleanup\n"
        );
        cleanup_all();
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_hook_is_a_reason_and_its_cleanup_still_runs() {
        let challenge = Challenge {
            name: "example.test",
            ip: None,
            token: "tok",
            key_authorization: "tok.thumb",
            digest: &[0; 32],
            dns_value: "VALUE",
            all_names: "example.test",
        };
        let dir = std::env::temp_dir().join(format!("acme-doctor-hook2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mark = dir.join("cleaned");
        let command = format!(
            "if [ \"$ACME_DOCTOR_HOOK\" = cleanup ]; then touch {}; else echo nope >&2; exit 3; fi; :",
            mark.display()
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let Err(err) = runtime.block_on(publish(&Plan::DnsHook(command), &challenge)) else {
            panic!("the hook failed, the publish must too");
        };
        assert!(
            err.contains("publish failed") && err.contains("nope"),
            "{err}"
        );
        assert!(mark.exists(), "the cleanup runs after a failed publish");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
