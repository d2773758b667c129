//! What a check declares about itself. Apart from the registry so that a check depends only on
//! this declaration, and the registry, which lists the checks, is the one module that knows
//! them all.

use super::{Code, Context, Out};
use crate::facts::Method;

/// One check: the codes it may emit, the methods it applies to, and how to run it.
pub struct CheckDef {
    /// A short name, for tests and `docs/architecture.md`.
    pub name: &'static str,
    pub codes: &'static [Code],
    pub methods: &'static [Method],
    pub run: fn(&Context, &mut Out),
}
