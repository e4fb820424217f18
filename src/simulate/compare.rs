//! `compare`'s state: a champion and a challenger in one pass — each one's
//! full simulation, and the swap set between them.

use super::Simulation;
use super::swap::SwapSet;
use crate::engine::pass::{Accumulator, Chunk, Plan, Rows, same};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// The state of a comparison of plan policies 0 and 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub champion: Simulation,
    pub challenger: Simulation,
    pub swap: SwapSet,
}

impl Comparison {
    pub fn new(plan: &Plan) -> Comparison {
        Comparison {
            champion: Simulation::new(plan, 0),
            challenger: Simulation::new(plan, 1),
            swap: SwapSet::new(&plan.policies[0], &plan.policies[1]),
        }
    }
}

impl Accumulator for Comparison {
    fn add(&mut self, chunk: &Chunk, rows: Rows) {
        self.champion.add(chunk, rows);
        self.challenger.add(chunk, rows);
        self.swap.add(chunk, rows);
    }

    fn merge(&mut self, o: &Comparison) -> Result<()> {
        same("plans", &self.champion.plan, &o.champion.plan)?;
        self.champion.merge(&o.champion)?;
        self.challenger.merge(&o.challenger)?;
        self.swap.merge(&o.swap)
    }
}
