//! Issue 20 item 4: one cause across families, shown once. The diagnosis (and JSON, the
//! contract) keeps one finding per family; people read one finding that names both families
//! ("IPv6 and IPv4"), with each family's own words where they differ. The human output and the
//! report group the ranked findings here; the drawn path stays one line per family.

use crate::diagnose::{Code, Finding};
use crate::facts::Family;

/// The findings of one cause, one per family in rank order (IPv6 first, as the CA dials), and
/// the symptoms it explains, grouped the same way.
#[derive(Debug)]
pub struct Group<'a> {
    pub findings: Vec<&'a Finding>,
    pub symptoms: Vec<Group<'a>>,
}

impl<'a> Group<'a> {
    /// The first finding: its code, severity, port and detail stand for the group.
    pub fn first(&self) -> &'a Finding {
        self.findings[0]
    }

    /// "IPv6 and IPv4" when the group holds both families; `None` for one finding.
    pub fn families(&self) -> Option<String> {
        if self.findings.len() < 2 {
            return None;
        }
        let labels: Vec<&str> = self
            .findings
            .iter()
            .filter_map(|f| f.family.map(Family::label))
            .collect();
        Some(labels.join(" and "))
    }

    /// The other families' titles that say something the first does not, each with its family.
    pub fn other_titles(&self) -> Vec<(Family, &'a str)> {
        let first = self.first();
        self.findings[1..]
            .iter()
            .filter(|f| f.title != first.title)
            .filter_map(|f| f.family.map(|fam| (fam, f.title.as_str())))
            .collect()
    }

    /// Every line of `pick` over the group, each once, in order.
    fn union<T: PartialEq + 'a>(&self, pick: impl Fn(&'a Finding) -> Vec<T>) -> Vec<T> {
        let mut out: Vec<T> = Vec::new();
        for f in &self.findings {
            for item in pick(f) {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
        }
        out
    }

    pub fn evidence(&self) -> Vec<&'a str> {
        self.union(|f| f.evidence.iter().map(String::as_str).collect())
    }

    pub fn fixes(&self) -> Vec<&'a str> {
        self.union(|f| f.fix.iter().map(String::as_str).collect())
    }

    pub fn notes(&self) -> Vec<crate::diagnose::Note> {
        self.union(|f| f.notes.clone())
    }

    /// The CA's words of each family, each once (they name the address dialled).
    pub fn ca_errors(&self) -> Vec<&'a str> {
        self.union(|f| f.ca_error.iter().map(String::as_str).collect())
    }

    /// The details, each once: one finding's full detail per distinct text.
    pub fn details(&self) -> Vec<String> {
        self.union(|f| vec![f.full_detail()])
    }

    /// The group, then its symptoms, flattened in the order they are shown.
    pub fn flatten(&self) -> Vec<&Group<'a>> {
        let mut out = vec![self];
        for s in &self.symptoms {
            out.extend(s.flatten());
        }
        out
    }
}

/// Whether `f` states the same cause as the group's findings, for another family.
fn joins(group: &Group, f: &Finding) -> bool {
    let first = group.first();
    let key = |x: &Finding| -> (Code, _, _, _, _, bool) {
        (
            x.code,
            x.severity,
            x.certainty,
            x.port,
            x.explained_by,
            x.ca_said,
        )
    };
    key(first) == key(f)
        && f.family.is_some()
        && group
            .findings
            .iter()
            .all(|g| g.family.is_some() && g.family != f.family)
}

/// The ranked findings as groups: each root with the symptoms listed after it (`rank::rank`
/// puts them there), and a root for another family merged into the first group of its cause.
pub fn groups(findings: &[Finding]) -> Vec<Group<'_>> {
    // Each root with the findings ranked under it.
    let mut blocks: Vec<(&Finding, Vec<&Finding>)> = Vec::new();
    for f in findings {
        match blocks.last_mut() {
            Some((_, under)) if f.explained_by.is_some() => under.push(f),
            _ => blocks.push((f, Vec::new())),
        }
    }
    let mut out: Vec<(Group, Vec<&Finding>)> = Vec::new();
    for (root, under) in blocks {
        match out.iter_mut().find(|(g, _)| joins(g, root)) {
            Some((group, symptoms)) => {
                group.findings.push(root);
                symptoms.extend(under);
            }
            None => out.push((
                Group {
                    findings: vec![root],
                    symptoms: Vec::new(),
                },
                under,
            )),
        }
    }
    out.into_iter()
        .map(|(mut group, under)| {
            group.symptoms = flat(&under);
            group
        })
        .collect()
}

/// Symptoms grouped by cause, in their order.
fn flat<'a>(findings: &[&'a Finding]) -> Vec<Group<'a>> {
    let mut out: Vec<Group> = Vec::new();
    for f in findings {
        match out.iter_mut().find(|g| joins(g, f)) {
            Some(group) => group.findings.push(f),
            None => out.push(Group {
                findings: vec![f],
                symptoms: Vec::new(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::Severity;

    fn f(code: Code, family: Option<Family>, port: u16, title: &str) -> Finding {
        let f = Finding::new(code, Severity::Blocker, title).port(port);
        match family {
            Some(fam) => f.family(fam),
            None => f,
        }
    }

    fn under(mut f: Finding, root: Code) -> Finding {
        f.explained_by = Some(root);
        f
    }

    const V6: Option<Family> = Some(Family::Ipv6);
    const V4: Option<Family> = Some(Family::Ipv4);

    /// Per family roots with their symptoms (a WAF on each address) become one root naming
    /// both families, with one symptom naming both.
    #[test]
    fn one_cause_on_both_families_is_one_group() {
        let ranked = vec![
            f(Code::WafBlocks, V6, 80, "waf on AAAA"),
            under(
                f(Code::ChallengeNotServed, V6, 80, "404 on AAAA"),
                Code::WafBlocks,
            ),
            f(Code::WafBlocks, V4, 80, "waf on A"),
            under(
                f(Code::ChallengeNotServed, V4, 80, "404 on A"),
                Code::WafBlocks,
            ),
            f(Code::NotOnHost, None, 0, "elsewhere"),
        ];
        let groups = groups(&ranked);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].families().as_deref(), Some("IPv6 and IPv4"));
        assert_eq!(groups[0].other_titles(), vec![(Family::Ipv4, "waf on A")]);
        assert_eq!(groups[0].symptoms.len(), 1);
        assert_eq!(
            groups[0].symptoms[0].families().as_deref(),
            Some("IPv6 and IPv4")
        );
        assert_eq!(groups[1].families(), None);
        // Every finding is shown once.
        let shown: usize = groups
            .iter()
            .flat_map(Group::flatten)
            .map(|g| g.findings.len())
            .sum();
        assert_eq!(shown, ranked.len());
    }

    /// Another port, another severity, or a family-less finding stay apart; so does a second
    /// finding of the same family (two AAAA records).
    #[test]
    fn different_causes_stay_apart() {
        let mut warning = f(Code::PortRefused, V4, 443, "A refuses 443");
        warning.severity = Severity::Warning;
        let ranked = vec![
            f(Code::PortRefused, V6, 443, "AAAA refuses 443"),
            f(Code::PortRefused, V6, 443, "second AAAA refuses 443"),
            warning,
            f(Code::PortRefused, V4, 80, "A refuses 80"),
            f(Code::ChallengeLocationShadowed, None, 80, "nginx line"),
            f(Code::ChallengeLocationShadowed, None, 80, "apache line"),
        ];
        let groups = groups(&ranked);
        assert_eq!(groups.len(), ranked.len());
        assert!(groups.iter().all(|g| g.families().is_none()));
    }
}
