//! A certbot lineage whose files are gone: the renewal configuration
//! (`/etc/letsencrypt/renewal/<lineage>.conf`) names `cert`, `privkey`, `chain` and
//! `fullchain` files that do not exist. certbot checks them before it renews
//! (`storage.RenewableCert`), logs `Renewal configuration file … is broken. Skipping.` and never
//! renews the certificate: whatever the CA would say, it is not asked.
//!
//! Code: `lineage-broken`.

use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{AcmeClient, ManagedCert, Method};

pub const CHECK: CheckDef = CheckDef {
    name: "lineage",
    codes: &[Code::LineageBroken],
    methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Lineage, cx, out),
};

pub struct Lineage;

impl Check for Lineage {
    type Evidence = ManagedCert;

    fn detect(&self, cx: &Context) -> Vec<ManagedCert> {
        match &cx.target.certificate {
            Some(c) if c.client == AcmeClient::Certbot && !c.missing_files.is_empty() => {
                vec![c.clone()]
            }
            _ => Vec::new(),
        }
    }

    fn word(&self, _cx: &Context, cert: &ManagedCert) -> Finding {
        let lineage = &cert.name;
        Finding::new(
            Code::LineageBroken,
            Severity::Warning,
            format!(
                "certbot will not renew lineage {lineage}: files its renewal configuration names are gone"
            ),
        )
        .detail(format!(
            "certbot checks the files of {} before it renews; with one missing it logs `Renewal configuration file {} is broken.` and skips the lineage, so the certificate expires whatever the CA would say.",
            cert.config, cert.config
        ))
        .evidence(format!("{}: certbot lineage {lineage}", cert.config))
        .evidence_lines(cert.missing_files.iter().map(|m| format!("missing: {m}")))
        .fix(format!(
            "if `/etc/letsencrypt/archive/{lineage}/` still holds the files, recreate the links: `certbot update_symlinks`"
        ))
        .fix(format!(
            "otherwise remove the lineage and obtain the certificate again: `certbot delete --cert-name {lineage}`, then `certbot certonly --cert-name {lineage} -d {}` with the same authenticator",
            cert.names.join(" -d ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::Challenge;

    #[test]
    fn a_lineage_with_missing_files_is_reported_with_them() {
        let webroot = || {
            Scenario::dual_stack().certificate(Challenge::Webroot {
                path: "/var/www/html".into(),
            })
        };
        let s = webroot().missing_files(&["cert /etc/letsencrypt/live/example.test/cert.pem"]);
        let cx = s.context();
        let found = Lineage.detect(&cx);
        assert_eq!(found.len(), 1);
        let f = Lineage.word(&cx, &found[0]);
        assert_eq!(
            (f.code, f.severity),
            (Code::LineageBroken, Severity::Warning)
        );
        assert!(
            f.evidence.iter().any(|e| e.starts_with("missing: cert ")),
            "{f:?}"
        );
        assert!(f.fix.iter().any(|x| x.contains("certbot update_symlinks")));
        let whole = webroot();
        assert!(Lineage.detect(&whole.context()).is_empty());
        let lego = webroot()
            .missing_files(&["cert /x"])
            .client(AcmeClient::Lego);
        assert!(
            Lineage.detect(&lego.context()).is_empty(),
            "certbot's rule only"
        );
    }
}
