//! nftables, as `nft` shows it: the JSON listing (`json.rs`, with its expressions in
//! `expr.rs` and its named sets in `table.rs`) and the kernel's bytecode (`netlink.rs`), which
//! says what the listing hides.

mod expr;
mod json;
mod netlink;
mod table;

pub use json::{Opaque, ruleset, ruleset_with_kernel};
pub use netlink::{KernelFamilies, kernel_families};

use super::model::Ruleset;
use std::collections::BTreeSet;

impl Ruleset {
    /// Drops the chains of the given nft tables (replaced by their iptables-save view).
    pub fn without_tables(mut self, tables: &BTreeSet<(String, String)>) -> Ruleset {
        let prefixes: Vec<String> = tables
            .iter()
            .map(|(f, t)| format!("nft/{f}/{t}/"))
            .collect();
        self.base
            .retain(|b| !prefixes.iter().any(|p| b.key.starts_with(p)));
        self.chains
            .retain(|k, _| !prefixes.iter().any(|p| k.starts_with(p)));
        self
    }
}
