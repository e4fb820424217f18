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

impl Accumulator for SwapSet {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        let (a, b) = (&chunk.decisions[0], &chunk.decisions[1]);
        // Each row's cell in [`CELLS`] order, computed without a branch;
        // then the few swaps are visited one by one.
        let approved =
            |d: &crate::engine::Decisions, row: usize| d.outcome[row] == Outcome::Approve;
        let cell_of =
            |row: usize| 3 - (2 * u8::from(approved(a, row)) + u8::from(approved(b, row)));
        let mut cells = Vec::with_capacity(rows.len());
        let mut bads = [0u64; 4];
        rows.for_each(|row| {
            let c = cell_of(row);
            cells.push(c);
            bads[c as usize] += u64::from(a.bad[row] == TRUE);
        });
        for (k, cell) in self.cells.iter_mut().enumerate() {
            cell.rows += bytecount::count(&cells, k as u8) as u64;
            cell.bads += bads[k];
        }
        // The swaps (a few rows), per side that approves them.
        let mut swaps: [Vec<u32>; 2] = Default::default();
        let mut at = 0;
        rows.for_each(|row| {
            let c = cells[at];
            at += 1;
            let (side, out) = match c {
                1 => (0, &mut self.swap_outs),
                2 => (1, &mut self.swap_ins),
                _ => return,
            };
            swaps[side].push(row as u32);
            // The rule that kept the row out on the side that declined it.
            let other = if side == 0 { b } else { a };
            if let Some(n) = out.get_mut(usize::from(other.primary[row])) {
                *n += 1;
            }
        });
        // Money only for the swaps: approved by both is each side's whole
        // less its swaps (see `Cell::repayment`).
        for (side, (d, list)) in [a, b].into_iter().zip(&swaps).enumerate() {
            self.cells[1 + side].repayment[side].add(d, Rows::Only(list));
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
