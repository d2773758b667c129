//! Caddy (Debian's `caddy`) in the lab: a real TLS-ALPN-01 and HTTP-01 responder, getting its
//! certificates from the lab's Pebble. Its files are laid out as the Debian package lays them
//! out, under a directory that stands for `/` (`--client-root` for `--all`):
//! `<root>/etc/caddy/Caddyfile`, and its storage under
//! `<root>/var/lib/caddy/.local/share/caddy` (`docs/ca-behaviour.md` §12.1).

use super::oracle::PEBBLE_DIR_URL;
use super::{Lab, RealOutcome};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Caddy's log, in the lab's directory.
pub const CADDY_LOG: &str = "caddy.log";

/// How a Caddy site asks the lab's Pebble for its certificate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CaddyChallenge {
    /// `disable_http_challenge`: TLS-ALPN-01 on 443 only.
    TlsAlpn,
    /// `disable_tlsalpn_challenge`: HTTP-01 on 80 only.
    Http,
}

impl Lab {
    /// The directory that stands for `/` on the lab's server: where Caddy's Caddyfile and
    /// storage are, and what `--client-root` names.
    pub fn client_root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Writes a Caddyfile with one site block per `(addresses, challenge)`, each answering
    /// "caddy in the lab", their certificates from the lab's Pebble (whose API certificate
    /// is trusted through `trusted_roots`), and starts Caddy in the host namespace with the
    /// Debian package's data directory under [`Lab::client_root`]. Waits until it listens on
    /// 443. Pebble must be running. Returns the Caddyfile's path.
    pub fn start_caddy(&mut self, sites: &[(&str, CaddyChallenge)]) -> Result<PathBuf, String> {
        let root = self.client_root();
        let caddyfile = root.join("etc/caddy/Caddyfile");
        let home = root.join("var/lib/caddy");
        for dir in [caddyfile.parent().unwrap_or(&root), home.as_path()] {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let ca = self.dir.join("ca.pem");
        // No admin endpoint and no trust-store installation: nothing of the machine's is
        // touched.
        let mut text =
            String::from("{\n\tadmin off\n\tskip_install_trust\n\temail lab@example.test\n}\n");
        for (addresses, challenge) in sites {
            let disable = match challenge {
                CaddyChallenge::TlsAlpn => "disable_http_challenge",
                CaddyChallenge::Http => "disable_tlsalpn_challenge",
            };
            text += &format!(
                "\n{addresses} {{\n\ttls {{\n\t\tissuer acme {{\n\t\t\tdir {PEBBLE_DIR_URL}\n\t\t\ttrusted_roots {}\n\t\t\t{disable}\n\t\t}}\n\t}}\n\trespond \"caddy in the lab\"\n}}\n",
                ca.display()
            );
        }
        std::fs::write(&caddyfile, text).map_err(|e| e.to_string())?;
        let file = caddyfile.to_string_lossy().into_owned();
        let home_text = home.to_string_lossy().into_owned();
        let data = home.join(".local/share").to_string_lossy().into_owned();
        let config = home.join(".config").to_string_lossy().into_owned();
        let h = self.host.clone();
        self.spawn_with_env(
            &h,
            &["caddy", "run", "--config", &file, "--adapter", "caddyfile"],
            &[
                ("HOME", &home_text),
                ("XDG_DATA_HOME", &data),
                ("XDG_CONFIG_HOME", &config),
            ],
            CADDY_LOG,
        )?;
        self.wait_until("caddy listening on 443", |lab| {
            lab.exec(&lab.host, &["ss", "-Hltn", "sport = :443"])
                .is_ok_and(|o| !o.trim().is_empty())
        })?;
        Ok(caddyfile)
    }

    /// What the real CA did for one of Caddy's identifiers, read from Caddy's log: issued
    /// (`certificate obtained successfully`) or the CA's problem of the first failed
    /// challenge (`challenge failed`, Pebble's words in `error`). Waits up to `limit`.
    pub fn caddy_outcome(&self, identifier: &str, limit: Duration) -> RealOutcome {
        let started = Instant::now();
        loop {
            for line in self.log(CADDY_LOG).lines() {
                let Ok(entry) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                if entry["identifier"] != identifier {
                    continue;
                }
                match entry["msg"].as_str() {
                    Some("certificate obtained successfully") => {
                        return RealOutcome {
                            issued: true,
                            error: String::new(),
                            elapsed: started.elapsed(),
                        };
                    }
                    Some("challenge failed") => {
                        return RealOutcome {
                            issued: false,
                            error: format!(
                                "{} :: {}",
                                entry["problem_type"].as_str().unwrap_or("?"),
                                entry["error"].as_str().unwrap_or("?")
                            ),
                            elapsed: started.elapsed(),
                        };
                    }
                    _ => {}
                }
            }
            if started.elapsed() > limit {
                return RealOutcome {
                    issued: false,
                    error: format!(
                        "Caddy reported no outcome for {identifier} within {limit:?}:\n{}",
                        self.log(CADDY_LOG)
                    ),
                    elapsed: started.elapsed(),
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The certificate Caddy stored for `identifier` under the lab's Pebble (certmagic's
    /// `Safe` name: an IPv6 address's colons become `-`).
    pub fn caddy_certificate(&self, identifier: &str) -> PathBuf {
        let safe = identifier.replace(':', "-");
        self.client_root()
            .join("var/lib/caddy/.local/share/caddy/certificates/198.51.100.10-14000-dir")
            .join(&safe)
            .join(format!("{safe}.crt"))
    }
}
