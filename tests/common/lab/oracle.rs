//! The CA oracle: Pebble (the real ACME test CA) in the outside namespace and lego asking it
//! for a certificate from the host, so that a diagnosis can be compared with what a real CA
//! did.

use super::{Lab, RESOLVER, run};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the real CA did: Pebble validating for lego.
#[derive(Debug, Clone)]
pub struct RealOutcome {
    pub issued: bool,
    /// The CA's error as lego printed it, when it failed.
    pub error: String,
    pub elapsed: Duration,
}

/// Where Pebble listens, in the outside namespace.
pub const PEBBLE_DIR_URL: &str = "https://198.51.100.10:14000/dir";

impl Lab {
    /// Starts Pebble (the real ACME test CA) in the outside namespace, validating on ports 80
    /// and 443 and resolving through the lab's DNS. Its API certificate is made here.
    pub fn start_pebble(&mut self) -> Result<(), String> {
        let d = self.dir.clone();
        let p = |name: &str| d.join(name).to_string_lossy().into_owned();
        std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:198.51.100.10\n")
            .map_err(|e| e.to_string())?;
        let openssl = |args: &[&str]| run(Command::new("openssl").args(args)).map(|_| ());
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=acme-doctor lab CA",
        ])?;
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &p("pebble.key"),
            "-out",
            &p("pebble.csr"),
            "-subj",
            "/CN=pebble",
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &p("pebble.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("pebble.pem"),
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
        ])?;
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "198.51.100.10:14000", "managementListenAddress": "127.0.0.1:15000",
            "certificate": "{}", "privateKey": "{}", "httpPort": 80, "tlsPort": 443,
            "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
            p("pebble.pem"),
            p("pebble.key")
        );
        std::fs::write(d.join("pebble.json"), config).map_err(|e| e.to_string())?;
        let outside = self.outside.clone();
        let dns = format!("{RESOLVER}:53");
        let config_path = p("pebble.json");
        self.spawn_with_env(
            &outside,
            &["pebble", "-config", &config_path, "-dnsserver", &dns],
            &[
                ("PEBBLE_VA_NOSLEEP", "1"),
                ("PEBBLE_WFE_NONCEREJECT", "0"),
                ("PEBBLE_AUTHZREUSE", "0"),
            ],
            "pebble.log",
        )?;
        self.wait_until("pebble listening", |lab| {
            lab.exec(&lab.outside, &["ss", "-Hltn", "sport = :14000"])
                .is_ok_and(|o| !o.trim().is_empty())
        })
    }

    /// A real ACME validation: lego, in the host namespace, asks Pebble for a certificate for
    /// `domain` with http-01 through nginx's webroot. Bounded in time; lego is killed by pid.
    pub fn real_validation(&self, domain: &str) -> RealOutcome {
        let www = self.dir.join("www").to_string_lossy().into_owned();
        self.lego_validation(
            &self.host,
            domain,
            "lego",
            &["--http", "--http.webroot", &www],
        )
    }

    /// A real ACME validation by lego in namespace `ns`, with the challenge flags given
    /// (`--tls --tls.port :443`, say), its account and certificates under `<lab>/<store>`.
    /// Success is a certificate on disk; otherwise the last error line lego printed (the CA's
    /// problem, or lego's own, such as a port it could not bind). Bounded in time; lego is
    /// killed by pid.
    pub fn lego_validation(
        &self,
        ns: &str,
        domain: &str,
        store: &str,
        challenge: &[&str],
    ) -> RealOutcome {
        let started = Instant::now();
        let log = self.dir.join(format!("{store}-{domain}.log"));
        let path = self.dir.join(store).to_string_lossy().into_owned();
        let spawned = std::fs::File::create(&log).and_then(|f| {
            Command::new("ip")
                .args(["netns", "exec", ns, "lego", "--server", PEBBLE_DIR_URL])
                .args(["--accept-tos", "--email", "lab@example.test"])
                .args(["--domains", domain])
                .args(challenge)
                .args(["--path", &path, "run"])
                .env("LEGO_CA_CERTIFICATES", self.dir.join("ca.pem"))
                .stdin(Stdio::null())
                .stdout(f.try_clone()?)
                .stderr(f)
                .spawn()
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                return RealOutcome {
                    issued: false,
                    error: format!("could not start lego: {e}"),
                    elapsed: started.elapsed(),
                };
            }
        };
        let status = wait_or_kill(&mut child, started + Duration::from_secs(90));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // Success is a certificate on disk, not only lego's exit status.
        let cert = self.dir.join(format!("{store}/certificates/{domain}.crt"));
        let issued = status.is_some_and(|s| s.success()) && cert.exists();
        let error = if issued {
            String::new()
        } else if status.is_none() {
            "lego did not finish within 90 s".to_string()
        } else {
            text.lines()
                .rev()
                .find(|l| l.contains("error") || l.contains("Error"))
                .map(|l| l.trim().to_string())
                .unwrap_or_else(|| format!("lego failed without an error line: {}", text.trim()))
        };
        RealOutcome {
            issued,
            error,
            elapsed: started.elapsed(),
        }
    }
}

/// Waits for a child of ours until `deadline`, then kills it (by its own pid) and reaps it.
/// `None` when it had to be killed or could not be waited for.
pub(super) fn wait_or_kill(
    child: &mut Child,
    deadline: Instant,
) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return None,
        }
    }
}
