//! Under `--all` a name is checked for a certificate an ACME client renews, and the fix is
//! often in that client's configuration, not in the web server: each finding about the
//! challenge path gets one more `fix` line that names the file, line and key to change.

use super::{Code, Context, Finding};
use crate::facts::Challenge;

/// The codes whose cause may be where the client puts or answers the challenge.
const PATH_CODES: &[Code] = &[
    Code::ChallengeStatus,
    Code::BadRedirect,
    Code::HttpNoResponse,
    Code::NoListener,
    Code::ListenerWrongAddress,
    Code::PortRefused,
    Code::TxtMissing,
    Code::TxtWrong,
];

pub fn annotate(cx: &Context, findings: &mut [Finding]) {
    let Some(cert) = &cx.target.certificate else {
        return;
    };
    let line = match &cert.challenge {
        Challenge::Webroot { path } => format!(
            "{} writes the challenge file under {path} (`{}` in {}): the web server must serve http://{}/.well-known/acme-challenge/ from {path}/.well-known/acme-challenge/; if it serves another directory, change `{}` there",
            cert.client,
            cert.key,
            cert.place(),
            cx.url_host,
            cert.key
        ),
        Challenge::Standalone { port } => format!(
            "{} answers with its own server on port {port} while it runs (`{}` in {})",
            cert.client,
            cert.key,
            cert.place()
        ),
        other => format!(
            "{} renews this name with {} (`{}` in {})",
            cert.client,
            other.describe(),
            cert.key,
            cert.place()
        ),
    };
    for f in findings.iter_mut() {
        if PATH_CODES.contains(&f.code) && f.severity != super::Severity::Info {
            f.fix.push(line.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::diagnose;
    use crate::diagnose::testkit::Scenario;

    #[test]
    fn a_challenge_failure_names_the_renewal_conf_and_its_key() {
        let s = Scenario::dual_stack()
            .http("192.0.2.10", 403, None)
            .http("2001:db8::10", 403, None)
            .certificate(Challenge::Webroot {
                path: "/var/www/old".into(),
            });
        let cx = s.context();
        let d = diagnose(cx.run, cx.target);
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::ChallengeStatus)
            .expect("challenge-status");
        let last = f.fix.last().unwrap();
        assert!(
            last.contains("`webroot_path` in /etc/letsencrypt/renewal/example.test.conf:12"),
            "{last}"
        );
    }
}
