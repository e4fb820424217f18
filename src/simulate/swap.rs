//! The swap set of a champion and a challenger: which rows each approves,
//! what the rows of each cell are worth under each policy, and which rules
//! cause the swaps.

use super::metrics::{RepaymentSums, add_all};
use crate::engine::Outcome;
use crate::engine::kernels::TRUE;
use crate::engine::pass::{Accumulator, Chunk, Rows, same};
use crate::error::Result;
use crate::policy::CompiledPolicy;
use serde::{Deserialize, Serialize};

/// The four cells, in report order.
pub const CELLS: [&str; 4] = ["both", "champion_only", "challenger_only", "neither"];

/// One cell of the swap matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub rows: u64,
    /// Rows of the cell that are observed bads (the champion's `observed`).
    pub bads: u64,
    /// The repayment sums of the rows each policy approves:
    /// `[champion, challenger]`. Kept for the swap cells only (the side that
    /// approves them): a side's "both" is its whole less its swaps, and
    /// "neither" is nothing, which spares the decimal sums of most rows.
    pub repayment: [RepaymentSums; 2],
}

/// The swap set of plan policies 0 (champion) and 1 (challenger).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapSet {
    /// [`CELLS`] order.
    pub cells: Vec<Cell>,
    /// Per challenger rule: swap-outs (approved by the champion only) it
    /// was the primary reason of.
    pub swap_outs: Vec<u64>,
    /// Per champion rule: swap-ins (approved by the challenger only) it
    /// was the primary reason of.
    pub swap_ins: Vec<u64>,
}

impl SwapSet {
    pub fn new(champion: &CompiledPolicy, challenger: &CompiledPolicy) -> SwapSet {
        let bands = |p: &CompiledPolicy| p.repayment.as_ref().map_or(0, |r| r.bands.len());
        let cell = Cell {
            rows: 0,
            bads: 0,
            repayment: [
                RepaymentSums::new(bands(champion)),
                RepaymentSums::new(bands(challenger)),
            ],
        };
        SwapSet {
            cells: vec![cell; 4],
            swap_outs: vec![0; challenger.rules.len()],
            swap_ins: vec![0; champion.rules.len()],
        }
    }
}

/// The cell of a row approved (or not) by the champion and the challenger.
fn cell(champion: bool, challenger: bool) -> usize {
    match (champion, challenger) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}

impl Accumulator for SwapSet {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        let (a, b) = (&chunk.decisions[0], &chunk.decisions[1]);
        let (mut counts, mut bads) = ([0u64; 4], [0u64; 4]);
        rows.for_each(|row| {
            let (in_a, in_b) = (
                a.outcome[row] == Outcome::Approve,
                b.outcome[row] == Outcome::Approve,
            );
            let c = cell(in_a, in_b);
            counts[c] += 1;
            bads[c] += u64::from(a.bad[row] == TRUE);
            // Money only for the swaps (a few rows): approved by both is
            // each side's whole less its swaps (see `Cell::repayment`).
            if in_a != in_b {
                let side = usize::from(in_b);
                self.cells[c].repayment[side].add_row([a, b][side], row);
            }
            // The rule that kept the row out on the side that declined it.
            let (d, out) = match (in_a, in_b) {
                (true, false) => (b, &mut self.swap_outs),
                (false, true) => (a, &mut self.swap_ins),
                _ => return,
            };
            if let Some(n) = out.get_mut(usize::from(d.primary[row])) {
                *n += 1;
            }
        });
        for (cell, (n, bad)) in self.cells.iter_mut().zip(counts.iter().zip(bads)) {
            cell.rows += n;
            cell.bads += bad;
        }
    }

    fn merge(&mut self, o: &SwapSet) -> Result<()> {
        same("rules", &self.swap_outs.len(), &o.swap_outs.len())?;
        same("rules", &self.swap_ins.len(), &o.swap_ins.len())?;
        for (a, b) in self.cells.iter_mut().zip(&o.cells) {
            a.rows += b.rows;
            a.bads += b.bads;
            for (x, y) in a.repayment.iter_mut().zip(&b.repayment) {
                x.merge(y)?;
            }
        }
        add_all(&mut self.swap_outs, &o.swap_outs);
        add_all(&mut self.swap_ins, &o.swap_ins);
        Ok(())
    }
}
