//! nftables, as `nft` shows it: the JSON listing (`json.rs`, with its expressions in
//! `expr.rs` and its named sets in `table.rs`) and the kernel's bytecode (`netlink.rs`), which
//! says what the listing hides.

mod expr;
mod json;
mod netlink;
mod table;

pub use json::{Opaque, ruleset, ruleset_with_kernel};
pub use netlink::{KernelFamilies, kernel_families};

use super::model::{ChainRef, Ruleset};
use std::collections::BTreeSet;

impl Ruleset {
    /// Drops the chains of the given nft tables (replaced by their iptables-save view).
    pub fn without_tables(mut self, tables: &BTreeSet<(String, String)>) -> Ruleset {
        let replaced = |chain: &ChainRef| tables.iter().any(|(f, t)| chain.in_nft_table(f, t));
        self.base.retain(|b| !replaced(&b.chain));
        self.chains.retain(|k, _| !replaced(k));
        self
    }
}
